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

{{/* The installer image reference: repository@digest when a digest is set (checked for
     its form), else repository:tag (the chart's appVersion when no tag is set). */}}
{{- define "youki.image" -}}
{{- with .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .) -}}
{{- fail (printf "image.digest %q: want sha256: and 64 lowercase hex digits" .) -}}
{{- end -}}
{{ $.Values.image.repository }}@{{ . }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The pull policy: the value when set, else IfNotPresent (a digest never changes, and a
     release tag is never moved). */}}
{{- define "youki.pullPolicy" -}}
{{- .Values.image.pullPolicy | default "IfNotPresent" -}}
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

{{/* The installer's global flags, shared by the init container and the long-running one. */}}
{{- define "youki.installerGlobalArgs" -}}
- --host-root=/host
- --restart={{ .Values.restart }}
- --timeout={{ .Values.restartTimeoutSeconds }}
{{- with .Values.containerdConfig }}
- --containerd-config={{ . }}
{{- end }}
{{- end -}}

{{/* The installer's environment: its node and no kubeconfig under HOME. */}}
{{- define "youki.installerEnv" -}}
# No kubeconfig under HOME: the kube client uses the service account.
- name: HOME
  value: /tmp
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- end -}}

{{/* The installer's mounts: the host root (read-only when the config is named, with the
     directories it writes mounted writable), and /tmp. */}}
{{- define "youki.installerMounts" -}}
- name: tmp
  mountPath: /tmp
- name: host-root
  mountPath: /host
  mountPropagation: HostToContainer
  {{- if .Values.containerdConfig }}
  # Read-only: the installer writes only the directories mounted below. A config
  # that links outside them is refused (read-only) and the node labelled unsupported.
  readOnly: true
  {{- end }}
{{- range $i, $d := include "youki.writableDirs" . | fromYamlArray }}
- name: host-rw-{{ $i }}
  mountPath: /host{{ $d }}
{{- end }}
{{- end -}}

{{/* The canary flags of `run`, in the init container (splitInit) and the long-running one. */}}
{{- define "youki.canaryArgs" -}}
{{- if not .Values.canary.enabled }}
- --no-canary
{{- end }}
{{- with .Values.canary.image }}
- --canary-image={{ . }}
{{- end }}
{{- end }}
