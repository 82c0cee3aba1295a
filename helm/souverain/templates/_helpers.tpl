{{/* Name of the chart, or nameOverride. */}}
{{- define "souverain.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects: the release name when it contains the chart name. */}}
{{- define "souverain.fullname" -}}
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

{{/* Labels of every object of the release. */}}
{{- define "souverain.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Labels that select the operator pods. */}}
{{- define "souverain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "souverain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator's ServiceAccount. */}}
{{- define "souverain.serviceAccountName" -}}
{{- default (include "souverain.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The identity the API server sees for the operator; admission policies trust it. */}}
{{- define "souverain.operatorUsername" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "souverain.serviceAccountName" .) -}}
{{- end -}}

{{/* The operator image, by digest when one is given. */}}
{{- define "souverain.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Service of the webhooks, and the host name in their certificate. */}}
{{- define "souverain.webhookService" -}}
{{- printf "%s-webhook" (include "souverain.fullname" .) -}}
{{- end -}}
{{- define "souverain.webhookHost" -}}
{{- printf "%s.%s.svc" (include "souverain.webhookService" .) .Release.Namespace -}}
{{- end -}}
{{- define "souverain.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "souverain.fullname" .) -}}
{{- end -}}

{{/* The profiles the operator keeps in place, as one YAML document per profile. */}}
{{- define "souverain.defaultProfile" -}}
apiVersion: souverain.io/v1alpha1
kind: SovereigntyProfile
metadata:
  name: {{ .Values.defaultProfile.name }}
  labels:
    app.kubernetes.io/part-of: souverain
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  {{- toYaml .Values.defaultProfile.spec | nindent 2 }}
{{- end -}}
