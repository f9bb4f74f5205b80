output "encryption_key_arn" {
  description = "Secret holding APP_SECRETS__ENCRYPTION_KEY."
  value       = aws_secretsmanager_secret.encryption_key.arn
}

output "token_signing_key_arn" {
  description = "Secret holding APP_SECRETS__TOKEN_SIGNING_KEY."
  value       = aws_secretsmanager_secret.token_signing_key.arn
}

output "external_secret_arns" {
  description = "The operator-filled secrets by name."
  value       = { for name, secret in aws_secretsmanager_secret.external : name => secret.arn }
}

output "all_arns" {
  description = "Every secret of this module."
  value = concat(
    [aws_secretsmanager_secret.encryption_key.arn, aws_secretsmanager_secret.token_signing_key.arn],
    [for secret in aws_secretsmanager_secret.external : secret.arn],
  )
}
