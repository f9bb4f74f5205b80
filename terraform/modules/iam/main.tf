# Least-privilege IAM for each service. The provisioner may read and write objects under the
# backup bucket's prefix (and use its KMS key through S3); the control plane may read the
# secrets it is given; the tenant runtime gets no AWS permission at all (no role is made for
# it). With an EKS OIDC provider, each policy is attached to a role its Kubernetes
# ServiceAccount assumes (IRSA).

data "aws_region" "current" {}

locals {
  irsa = var.oidc_provider_arn != null
  # The issuer without its scheme, as the trust policy's condition keys spell it.
  oidc_issuer = var.oidc_provider_url == null ? "" : replace(var.oidc_provider_url, "https://", "")
}

data "aws_iam_policy_document" "control_plane" {
  statement {
    sid       = "ReadPlatformSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.control_plane_secret_arns
  }

  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null ? [] : [var.secrets_kms_key_arn]
    content {
      sid       = "DecryptSecretsThroughSecretsManager"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "provisioner" {
  statement {
    sid       = "ListBackupPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.backup_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.backup_prefix, "${var.backup_prefix}*"]
    }
  }

  statement {
    sid = "ReadWriteBackups"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${var.backup_bucket_arn}/${var.backup_prefix}*"]
  }

  dynamic "statement" {
    for_each = var.backup_kms_key_arn == null ? [] : [var.backup_kms_key_arn]
    content {
      sid       = "EncryptBackupsThroughS3"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.provisioner_secret_arns) == 0 ? [] : [var.provisioner_secret_arns]
    content {
      sid       = "ReadPlatformSecrets"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null || length(var.provisioner_secret_arns) == 0 ? [] : [var.secrets_kms_key_arn]
    content {
      sid       = "DecryptSecretsThroughSecretsManager"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_policy" "control_plane" {
  name        = "${var.name}-control-plane"
  description = "ERP platform control plane: read its secrets"
  policy      = data.aws_iam_policy_document.control_plane.json
  tags        = var.tags
}

resource "aws_iam_policy" "provisioner" {
  name        = "${var.name}-provisioner"
  description = "ERP platform provisioner: backups under the bucket prefix, its secrets"
  policy      = data.aws_iam_policy_document.provisioner.json
  tags        = var.tags
}

data "aws_iam_policy_document" "assume" {
  for_each = local.irsa ? var.service_accounts : {}

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${each.value}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "service" {
  for_each = local.irsa ? var.service_accounts : {}

  name               = "${var.name}-${replace(each.key, "_", "-")}"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "service" {
  for_each = local.irsa ? var.service_accounts : {}

  role       = aws_iam_role.service[each.key].name
  policy_arn = each.key == "control_plane" ? aws_iam_policy.control_plane.arn : aws_iam_policy.provisioner.arn
}
