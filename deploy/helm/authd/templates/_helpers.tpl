{{/* The chart's name, or nameOverride. */}}
{{- define "authd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The objects' name: fullnameOverride, or the release name when it contains the
chart's name (release "authd" gives "authd", as in deploy/base), or
<release>-<name>.
*/}}
{{- define "authd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "authd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "authd.selectorLabels" . }}
app.kubernetes.io/part-of: authd
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select this release's pods (plus a component). */}}
{{- define "authd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "authd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "authd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "authd.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "authd.secret" -}}
{{- required "existingSecret: the name of the Secret with authd's secrets (deploy/README.md, step 3)" .Values.existingSecret }}
{{- end }}

{{/* The port number of config.METRICS_ADDR (":9090" gives 9090). */}}
{{- define "authd.metricsPort" -}}
{{- $addr := required "config.METRICS_ADDR: the address of /metrics, e.g. :9090" .Values.config.METRICS_ADDR | toString }}
{{- regexReplaceAll "^.*:" $addr "" }}
{{- end }}

{{/* The settings the mail values stand for; none may also be in config. */}}
{{- define "authd.mailKeys" -}}
MAIL_TRANSPORT EMAIL_FROM EMAIL_FROM_NAME EMAIL_LINK_BASE EMAIL_VERIFICATION SMTP_HOST SMTP_PORT SMTP_TLS
{{- end }}

{{/*
The ConfigMap's data, a YAML map: config, plus the mail settings from mail.
Used by the ConfigMap and, inline, by the migration Job (a hook that runs
before the ConfigMap of a new release is applied).
*/}}
{{- define "authd.configData" -}}
{{- $data := dict }}
{{- range $k, $v := .Values.config }}
{{- if has $k (splitList " " (include "authd.mailKeys" $)) }}
{{- fail (printf "config.%s: set it under mail (mail.enabled, mail.from, mail.smtp...), not config" $k) }}
{{- end }}
{{- $_ := set $data $k (toString $v) }}
{{- end }}
{{- if .Values.mail.enabled }}
{{- $m := .Values.mail }}
{{- $_ := set $data "MAIL_TRANSPORT" "smtp" }}
{{- $_ := set $data "EMAIL_FROM" (required "mail.from: the sender address (EMAIL_FROM) when mail.enabled" $m.from) }}
{{- $_ := set $data "SMTP_HOST" (required "mail.smtp.host: the relay (SMTP_HOST) when mail.enabled" $m.smtp.host) }}
{{- $_ := set $data "SMTP_PORT" (toString $m.smtp.port) }}
{{- $_ := set $data "SMTP_TLS" (toString $m.smtp.tls) }}
{{- with $m.fromName }}{{ $_ := set $data "EMAIL_FROM_NAME" (toString .) }}{{ end }}
{{- with $m.linkBase }}{{ $_ := set $data "EMAIL_LINK_BASE" (toString .) }}{{ end }}
{{- with $m.verification }}{{ $_ := set $data "EMAIL_VERIFICATION" (toString .) }}{{ end }}
{{- if eq (toString $m.egressCIDR) "192.0.2.1/32" }}
{{- fail "mail.egressCIDR: set the SMTP relay's address range; the default, 192.0.2.1/32, reaches nothing" }}
{{- end }}
{{- else }}
{{- $_ := set $data "MAIL_TRANSPORT" "off" }}
{{- end }}
{{- toYaml $data }}
{{- end }}
