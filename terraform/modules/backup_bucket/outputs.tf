output "bucket" {
  description = "Bucket name."
  value       = aws_s3_bucket.backups.id
}

output "bucket_arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.backups.arn
}

output "region" {
  description = "Region of the bucket (the chart's backups.s3.region)."
  value       = aws_s3_bucket.backups.region
}

output "prefix" {
  description = "Key prefix of the backups."
  value       = var.prefix
}

output "kms_key_arn" {
  description = "KMS key of SSE-KMS, or null for AES256."
  value       = var.kms_key_arn
}
