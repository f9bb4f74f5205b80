variable "name" {
  description = "Prefix of every resource name (e.g. erp-prod)."
  type        = string
}

variable "server_count" {
  description = "How many tenant database servers to run."
  type        = number
  default     = 2

  validation {
    condition     = var.server_count >= 1 && var.server_count <= 50 && floor(var.server_count) == var.server_count
    error_message = "server_count must be a whole number from 1 to 50."
  }
}

variable "connection_budget" {
  description = "Connections all tenant runtimes together may hold on one server (set as its database_servers.connection_budget)."
  type        = number
  default     = 200

  validation {
    condition     = var.connection_budget >= 10 && var.connection_budget <= 5000
    error_message = "connection_budget must be from 10 to 5000."
  }
}

variable "connection_headroom" {
  description = "Connections above the budget for the provisioner, operators and RDS's reserved slots."
  type        = number
  default     = 30

  validation {
    condition     = var.connection_headroom >= 10
    error_message = "connection_headroom must leave at least 10 connections beyond the budget."
  }
}

variable "max_wal_size_mb" {
  description = "max_wal_size in MB, raised for bulk provisioning and restores."
  type        = number
  default     = 8192

  validation {
    condition     = var.max_wal_size_mb >= 1024
    error_message = "max_wal_size_mb should be at least 1024 (the Postgres default)."
  }
}

variable "engine_version" {
  description = "Postgres 15 minor version."
  type        = string
  default     = "15"

  validation {
    condition     = can(regex("^15(\\.[0-9]+)?$", var.engine_version))
    error_message = "Tenant servers run Postgres 15: give \"15\" or \"15.x\"."
  }
}

variable "instance_class" {
  description = "RDS instance class of each server."
  type        = string
  default     = "db.r6g.large"
}

variable "master_username" {
  description = "Master user; the platform's admin URL for the server uses it (it creates tenant roles and databases)."
  type        = string
  default     = "erp_admin"
}

variable "allocated_storage_gb" {
  description = "Initial storage of each server in GiB."
  type        = number
  default     = 100
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling of each server in GiB."
  type        = number
  default     = 1000
}

variable "multi_az" {
  description = "Run each server Multi-AZ."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master secrets; null: AWS managed keys."
  type        = string
  default     = null
}

variable "db_subnet_group_name" {
  description = "DB subnet group (private subnets)."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups of the servers (allowing 5432 from the platform only)."
  type        = list(string)
}

variable "backup_retention_days" {
  description = "Days of automated backups of each server."
  type        = number
  default     = 7
}

variable "backup_window" {
  description = "Daily backup window (UTC)."
  type        = string
  default     = "02:30-03:30"
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC)."
  type        = string
  default     = "sun:05:00-sun:06:00"
}

variable "deletion_protection" {
  description = "Refuse to delete the servers."
  type        = bool
  default     = true
}

variable "log_min_duration_ms" {
  description = "Log statements slower than this (ms); -1 disables."
  type        = number
  default     = 1000
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
