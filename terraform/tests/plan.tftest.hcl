# Plan-time tests of the modules against a mocked AWS provider (no account, no network), run
# by scripts/check-deploy (`terraform test` after an offline init). They check what the
# modules promise: max_connections sized from the budget, the bucket's encryption choice,
# roles for the control plane and the provisioner only, and that the validations refuse
# bad input. The secrets module is left to `terraform validate`: mock providers cannot
# open the ephemeral resources that generate its keys.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      name = "eu-central-1"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

run "tenant_servers_are_sized_from_the_budget" {
  command = plan
  module {
    source = "./modules/tenant_servers"
  }

  variables {
    name                 = "erp-test"
    server_count         = 3
    connection_budget    = 150
    connection_headroom  = 25
    db_subnet_group_name = "erp-test"
    security_group_ids   = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = length(aws_db_instance.tenants) == 3
    error_message = "one RDS instance per tenant server"
  }
  assert {
    condition     = output.max_connections == 175
    error_message = "max_connections must be the budget plus the headroom"
  }
  assert {
    condition     = one([for p in aws_db_parameter_group.tenants.parameter : p.value if p.name == "max_connections"]) == "175"
    error_message = "the parameter group carries max_connections"
  }
  assert {
    condition     = alltrue([for db in aws_db_instance.tenants : db.storage_encrypted && db.multi_az && db.deletion_protection])
    error_message = "tenant servers are encrypted, Multi-AZ and protected"
  }
}

run "a_tiny_connection_budget_is_refused" {
  command = plan
  module {
    source = "./modules/tenant_servers"
  }

  variables {
    name                 = "erp-test"
    connection_budget    = 5
    db_subnet_group_name = "erp-test"
    security_group_ids   = ["sg-0123456789abcdef0"]
  }

  expect_failures = [var.connection_budget]
}

run "control_db_is_multi_az_encrypted_and_backed_up" {
  command = plan
  module {
    source = "./modules/control_db"
  }

  variables {
    name                 = "erp-test"
    db_subnet_group_name = "erp-test"
    security_group_ids   = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = aws_db_instance.control.multi_az && aws_db_instance.control.storage_encrypted
    error_message = "the control database is Multi-AZ and encrypted"
  }
  assert {
    condition     = aws_db_instance.control.backup_retention_period == 14 && aws_db_instance.control.deletion_protection
    error_message = "the control database keeps 14 days of backups and refuses deletion"
  }
  assert {
    condition     = aws_db_instance.control.manage_master_user_password
    error_message = "RDS keeps the master password (never in state)"
  }
}

run "bucket_without_kms_uses_aes256" {
  command = plan
  module {
    source = "./modules/backup_bucket"
  }

  variables {
    name           = "erp-test"
    retention_days = 40
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "no KMS key given: SSE-S3"
  }
  assert {
    condition     = aws_s3_bucket_versioning.backups.versioning_configuration[0].status == "Enabled"
    error_message = "the bucket is versioned"
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.backups.restrict_public_buckets && aws_s3_bucket_public_access_block.backups.block_public_policy
    error_message = "public access is blocked"
  }
  assert {
    condition     = [for rule in aws_s3_bucket_lifecycle_configuration.backups.rule : rule.expiration[0].days if rule.id == "expire-old-backups"][0] == 40
    error_message = "backups expire after retention_days"
  }
}

run "a_short_backup_retention_is_refused" {
  command = plan
  module {
    source = "./modules/backup_bucket"
  }

  variables {
    name           = "erp-test"
    retention_days = 3
  }

  expect_failures = [var.retention_days]
}

run "only_control_plane_and_provisioner_get_roles" {
  command = plan
  module {
    source = "./modules/iam"
  }

  variables {
    name                      = "erp-test"
    backup_bucket_arn         = "arn:aws:s3:::erp-test-backups"
    backup_prefix             = "backups/"
    control_plane_secret_arns = ["arn:aws:secretsmanager:eu-central-1:123456789012:secret:erp-test/encryption-key"]
    oidc_provider_arn         = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE"
    oidc_provider_url         = "https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE"
  }

  assert {
    condition     = toset(keys(aws_iam_role.service)) == toset(["control_plane", "provisioner"])
    error_message = "roles for the control plane and the provisioner only (the runtime needs no AWS access)"
  }
}

run "the_provisioner_never_gets_the_whole_bucket" {
  command = plan
  module {
    source = "./modules/iam"
  }

  variables {
    name                      = "erp-test"
    backup_bucket_arn         = "arn:aws:s3:::erp-test-backups"
    backup_prefix             = "/"
    control_plane_secret_arns = ["arn:aws:secretsmanager:eu-central-1:123456789012:secret:erp-test/encryption-key"]
  }

  expect_failures = [var.backup_prefix]
}
