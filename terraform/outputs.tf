output "control_db" {
  description = "The control database: APP_DATABASE__URL is postgres://<master_username>:<password from master_user_secret_arn>@<address>:<port>/<database>."
  value = {
    address                = module.control_db.address
    port                   = module.control_db.port
    database               = module.control_db.database
    master_username        = module.control_db.master_username
    master_user_secret_arn = module.control_db.master_user_secret_arn
  }
}

output "tenant_servers" {
  description = "Tenant database servers to register with POST /api/v1/servers (admin URL from the master secret), each with this connection_budget."
  value       = module.tenant_servers.servers
}

output "tenant_server_max_connections" {
  description = "max_connections of every tenant server (budget + headroom)."
  value       = module.tenant_servers.max_connections
}

output "backup_bucket" {
  description = "Bucket, prefix and region of tenant backups: the chart's backups.s3 (backups.store = s3, i.e. APP_BACKUPS__S3__BUCKET, APP_BACKUPS__S3__PREFIX, APP_BACKUPS__S3__REGION)."
  value = {
    bucket = module.backup_bucket.bucket
    prefix = module.backup_bucket.prefix
    region = module.backup_bucket.region
  }
}

output "secrets" {
  description = "Secrets Manager ARNs: the generated keys and the operator-filled entries."
  value = {
    encryption_key    = module.secrets.encryption_key_arn
    token_signing_key = module.secrets.token_signing_key_arn
    external          = module.secrets.external_secret_arns
  }
}

output "iam" {
  description = "Per-service policies, and IRSA roles to annotate the chart's ServiceAccounts with (the tenant runtime has none)."
  value = {
    control_plane_policy_arn = module.iam.control_plane_policy_arn
    provisioner_policy_arn   = module.iam.provisioner_policy_arn
    role_arns                = module.iam.role_arns
  }
}

output "database_security_group_id" {
  description = "Security group of every database."
  value       = aws_security_group.databases.id
}
