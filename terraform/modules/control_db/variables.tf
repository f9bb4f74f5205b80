variable "name" {
  description = "Prefix of every resource name (e.g. erp-prod)."
  type        = string
}

variable "engine_version" {
  description = "Postgres 15 minor version (RDS picks the newest 15.x when just \"15\")."
  type        = string
  default     = "15"

  validation {
    condition     = can(regex("^15(\\.[0-9]+)?$", var.engine_version))
    error_message = "The control database runs Postgres 15: give \"15\" or \"15.x\"."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "master_username" {
  description = "Master user; the platform connects as it (it owns erp_control)."
  type        = string
  default     = "erp_admin"
}

variable "allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master secret; null: AWS managed keys."
  type        = string
  default     = null
}

variable "db_subnet_group_name" {
  description = "DB subnet group (private subnets in at least two AZs)."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups of the instance (allowing 5432 from the platform only)."
  type        = list(string)
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14
}

variable "backup_window" {
  description = "Daily backup window (UTC)."
  type        = string
  default     = "02:00-03:00"
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC)."
  type        = string
  default     = "sun:04:00-sun:05:00"
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (turn off deliberately before a destroy)."
  type        = bool
  default     = true
}

variable "log_min_duration_ms" {
  description = "Log statements slower than this (ms); -1 disables."
  type        = number
  default     = 500
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
