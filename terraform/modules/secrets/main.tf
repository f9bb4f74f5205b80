# The platform's own secrets in Secrets Manager. The two keys are generated here from an
# ephemeral random password and written through write-only attributes, so their values are
# never in Terraform's plan or state; Terraform writes them once (version 1) and never
# rotates them (rotating the encryption key needs the old one in APP_SECRETS__PREVIOUS_KEYS:
# see the README's key rotation).
#
# With generate_keys = false both key entries are left empty too, for keys made elsewhere
# (`openssl rand -base64 32`) or carried over from an existing installation.
#
# Secrets whose values come from elsewhere (Stripe's keys, the SMTP URL) get an empty
# entry for the operator to fill (`aws secretsmanager put-secret-value`).
#
# The database passwords are not here: RDS keeps them (manage_master_user_password).

# APP_SECRETS__ENCRYPTION_KEY must be base64 of exactly 32 bytes. 42 random characters of the
# base64 alphabet carry 252 bits; "A=" ends the 44-character encoding with zero bits, so the
# text always decodes (strictly) to 32 bytes.
ephemeral "aws_secretsmanager_random_password" "encryption_key" {
  count = var.generate_keys ? 1 : 0

  password_length     = 42
  exclude_punctuation = true
  include_space       = false
}

# APP_SECRETS__TOKEN_SIGNING_KEY: base64 of at least 32 bytes; 64 characters of the base64
# alphabet decode to exactly 48 bytes (no padding, no spare bits).
ephemeral "aws_secretsmanager_random_password" "token_signing_key" {
  count = var.generate_keys ? 1 : 0

  password_length     = 64
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "encryption_key" {
  name                    = "${var.name}/encryption-key"
  description             = "APP_SECRETS__ENCRYPTION_KEY of the ERP platform (AES-256-GCM key, base64)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "encryption_key" {
  count = var.generate_keys ? 1 : 0

  secret_id                = aws_secretsmanager_secret.encryption_key.id
  secret_string_wo         = "${ephemeral.aws_secretsmanager_random_password.encryption_key[0].random_password}A="
  secret_string_wo_version = 1
}

resource "aws_secretsmanager_secret" "token_signing_key" {
  name                    = "${var.name}/token-signing-key"
  description             = "APP_SECRETS__TOKEN_SIGNING_KEY of the ERP platform (HMAC key, base64)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "token_signing_key" {
  count = var.generate_keys ? 1 : 0

  secret_id                = aws_secretsmanager_secret.token_signing_key.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.token_signing_key[0].random_password
  secret_string_wo_version = 1
}

resource "aws_secretsmanager_secret" "external" {
  for_each = var.external_secrets

  name                    = "${var.name}/${each.key}"
  description             = "ERP platform: ${each.key} (value set by the operator)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}
