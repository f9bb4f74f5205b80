{{/* Names, labels, the container security context and the secret environment shared by every template. */}}

{{- define "erp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "erp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "erp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "erp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (list $ "tenant-runtime"). */}}
{{- define "erp.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "erp.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "erp.componentLabels" -}}
{{ include "erp.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "erp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The ServiceAccount of one component: (list $ "provisioner"). One per component, so each can be given its own cloud role (IRSA). */}}
{{- define "erp.serviceAccountName" -}}
{{- $root := index . 0 -}}
{{- if $root.Values.serviceAccount.create -}}
{{- printf "%s-%s" (include "erp.fullname" $root) (index . 1) -}}
{{- else -}}
{{- default "default" $root.Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Every container: not root, nothing written outside its volumes, no privilege. */}}
{{- define "erp.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "erp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Environment entries read from existing Secrets: (list $ (dict "refName" "APP_SECTION__KEY" ...)).
A ref whose Secret name is empty is left out (the setting stays unset).
*/}}
{{- define "erp.secretEnv" -}}
{{- $root := index . 0 -}}
{{- range $ref, $var := index . 1 }}
{{- $secret := index $root.Values.secretRefs $ref }}
{{- if $secret.name }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret.name }}
      key: {{ $secret.key }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The secrets every service reads. */}}
{{- define "erp.commonSecrets" -}}
{{- dict "databaseUrl" "APP_DATABASE__URL" "encryptionKey" "APP_SECRETS__ENCRYPTION_KEY" "tokenSigningKey" "APP_SECRETS__TOKEN_SIGNING_KEY" "previousKeys" "APP_SECRETS__PREVIOUS_KEYS" "smtpUrl" "APP_MAIL__SMTP_URL" "stripeSecretKey" "APP_BILLING__SECRET_KEY" | toJson -}}
{{- end -}}

{{/* APP_REDIS__URL when a Redis Secret is named. */}}
{{- define "erp.redisEnv" -}}
{{- if .Values.redis.url.name }}
- name: APP_REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.url.name }}
      key: {{ .Values.redis.url.key }}
{{- end }}
{{- end -}}

{{/*
The environment of one service's container: (list $ "component" replicas maxConnections
extraSecretsDict). APP_LIMITS__REPLICAS is the number of processes a limit is split across
when Redis is not configured.
*/}}
{{- define "erp.serviceEnv" -}}
{{- $root := index . 0 -}}
{{- $secrets := merge (index . 4) (include "erp.commonSecrets" $root | fromJson) -}}
- name: APP_LIMITS__REPLICAS
  value: {{ index . 2 | quote }}
- name: APP_DATABASE__MAX_CONNECTIONS
  value: {{ index . 3 | quote }}
{{- include "erp.secretEnv" (list $root $secrets) }}
{{- include "erp.redisEnv" $root }}
{{- end -}}

{{/*
Refuses a grace period that does not cover the pre-stop pause and the drain:
(list $ "component" grace drainSeconds).
*/}}
{{- define "erp.checkGrace" -}}
{{- $root := index . 0 -}}
{{- $needed := add $root.Values.preStopSleepSeconds (index . 3) -}}
{{- if le (int (index . 2)) (int $needed) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds must exceed preStopSleepSeconds + the %vs drain (%v)" (index . 1) (index . 3) $needed) -}}
{{- end -}}
{{- end -}}
