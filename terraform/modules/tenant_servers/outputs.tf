output "servers" {
  description = "Each server: what to register with POST /api/v1/servers (the admin URL's password is in master_user_secret_arn) and its connection_budget."
  value = [
    for server in aws_db_instance.tenants : {
      identifier             = server.identifier
      address                = server.address
      port                   = server.port
      master_username        = server.username
      master_user_secret_arn = server.master_user_secret[0].secret_arn
      connection_budget      = var.connection_budget
    }
  ]
}

output "max_connections" {
  description = "max_connections set on every server (budget + headroom)."
  value       = local.max_connections
}

output "master_user_secret_arns" {
  description = "Secrets Manager ARNs of the servers' master passwords."
  value       = [for server in aws_db_instance.tenants : server.master_user_secret[0].secret_arn]
}
