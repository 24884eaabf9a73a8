{{/* Name of the chart's objects. */}}
{{- define "youki.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "youki.labels" -}}
app.kubernetes.io/name: {{ include "youki.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select the installer pods. */}}
{{- define "youki.selectorLabels" -}}
app.kubernetes.io/name: {{ include "youki.name" . }}-installer
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The installer image reference. */}}
{{- define "youki.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Host directories the installer writes, when the config is named (containerdConfig):
     the config's directory, the binaries and ledger, and /run (the lock, the sockets). With
     the config detected, the whole host root stays writable: detection looks everywhere. */}}
{{- define "youki.writableDirs" -}}
{{- if .Values.containerdConfig -}}
{{- list (dir .Values.containerdConfig) "/opt/youki" "/run" | toYaml -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}
