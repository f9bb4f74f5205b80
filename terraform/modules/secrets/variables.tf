variable "name" {
  description = "Path prefix of the secrets' names (e.g. erp-prod)."
  type        = string
}

variable "generate_keys" {
  description = "Generate the encryption and token-signing keys (write-only, never in state); false: leave them empty for the operator."
  type        = bool
  default     = true
}

variable "external_secrets" {
  description = "Secrets created empty, for the operator to fill: Stripe's keys, the SMTP URL, a Redis URL."
  type        = set(string)
  default     = ["stripe-secret-key", "stripe-webhook-secrets", "smtp-url"]

  validation {
    condition     = alltrue([for name in var.external_secrets : can(regex("^[a-z0-9-]+$", name))])
    error_message = "external_secrets names are lower-case words joined by dashes."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the secrets; null: the account's aws/secretsmanager key."
  type        = string
  default     = null
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once)."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_days == 0 || (var.recovery_window_days >= 7 && var.recovery_window_days <= 30)
    error_message = "recovery_window_days is 0 or from 7 to 30."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
