output "address" {
  description = "Host name of the control database."
  value       = aws_db_instance.control.address
}

output "port" {
  description = "Port of the control database."
  value       = aws_db_instance.control.port
}

output "database" {
  description = "Database name (APP_DATABASE__URL's path)."
  value       = aws_db_instance.control.db_name
}

output "master_username" {
  description = "The user APP_DATABASE__URL connects as."
  value       = aws_db_instance.control.username
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret (JSON username/password) RDS keeps the master password in."
  value       = aws_db_instance.control.master_user_secret[0].secret_arn
}

output "instance_arn" {
  description = "ARN of the instance."
  value       = aws_db_instance.control.arn
}
