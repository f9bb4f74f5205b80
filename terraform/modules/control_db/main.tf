# The control database: one managed Postgres 15 instance holding tenants, plans, jobs,
# servers, billing and audit (the platform's single source of truth). Multi-AZ, encrypted,
# backed up, protected from deletion; its master password is generated and kept by RDS in
# Secrets Manager (manage_master_user_password), never in Terraform state.

resource "aws_db_parameter_group" "control" {
  name_prefix = "${var.name}-control-"
  family      = "postgres15"
  description = "ERP platform control database"

  # The services' LISTEN/NOTIFY connection (tenant_changed, jobs_queued) and the tenant
  # runtimes speak plain TCP today (tokio-postgres NoTls), so TLS cannot be forced yet:
  # keep the instance reachable only from the platform's security group.
  parameter {
    name  = "rds.force_ssl"
    value = "0"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_ms)
  }

  lifecycle {
    create_before_destroy = true
  }

  tags = var.tags
}

resource "aws_db_instance" "control" {
  identifier     = "${var.name}-control"
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name                       = "erp_control"
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = true
  db_subnet_group_name   = var.db_subnet_group_name
  vpc_security_group_ids = var.security_group_ids
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.control.name

  backup_retention_period   = var.backup_retention_days
  backup_window             = var.backup_window
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-control-final"

  auto_minor_version_upgrade      = true
  allow_major_version_upgrade     = false
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_arn
  enabled_cloudwatch_logs_exports = ["postgresql"]

  tags = var.tags
}
