{{/* Names, labels, and the checks that refuse unsafe values. */}}

{{- define "relreg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "relreg.fullname" -}}
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

{{- define "relreg.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "relreg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "relreg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "relreg.labels" -}}
helm.sh/chart: {{ include "relreg.chart" . }}
{{ include "relreg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "relreg.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "relreg.claimName" -}}
{{- default (printf "%s-data" (include "relreg.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{- define "relreg.bootstrapSecretName" -}}
{{- default (printf "%s-bootstrap-token" (include "relreg.fullname" .)) .Values.bootstrapToken.job.secretName }}
{{- end }}

{{- define "relreg.publicUrl" -}}
{{- default (printf "http://%s.%s.svc:%v" (include "relreg.fullname" .) .Release.Namespace .Values.service.port) .Values.publicUrl }}
{{- end }}

{{/* terminationGracePeriodSeconds: preStop sleep + shutdown grace + 5 unless set; never less. */}}
{{- define "relreg.terminationGrace" -}}
{{- $floor := add (int .Values.server.preStopSleepSeconds) (int .Values.server.shutdownGraceSeconds) }}
{{- if .Values.server.terminationGracePeriodSeconds }}
{{- if le (int .Values.server.terminationGracePeriodSeconds) (int $floor) }}
{{- fail (printf "server.terminationGracePeriodSeconds (%v) must exceed server.preStopSleepSeconds + server.shutdownGraceSeconds (%v): Kubernetes would kill relreg before in-flight requests finish" .Values.server.terminationGracePeriodSeconds $floor) }}
{{- end }}
{{- int .Values.server.terminationGracePeriodSeconds }}
{{- else }}
{{- add $floor 5 }}
{{- end }}
{{- end }}

{{/* Refuses combinations that cannot work; rendered once, from the Deployment. */}}
{{- define "relreg.validate" -}}
{{- if and .Values.ingress.enabled .Values.httpRoute.enabled }}
{{- fail "ingress.enabled and httpRoute.enabled are mutually exclusive: expose relreg through an Ingress or through a Gateway API HTTPRoute, not both" }}
{{- end }}
{{- if not (has .Values.database.type (list "sqlite" "postgres")) }}
{{- fail (printf "database.type must be sqlite or postgres, not %q" .Values.database.type) }}
{{- end }}
{{- if and (eq .Values.database.type "sqlite") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "database.type sqlite allows one replica (replicaCount is %v): SQLite is one file on one volume; use database.type postgres for more replicas" .Values.replicaCount) }}
{{- end }}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.postgres.existingSecret) }}
{{- fail "database.type postgres needs database.postgres.existingSecret: a Secret holding the postgres:// URL (key database.postgres.secretKey)" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not (has "ReadWriteMany" .Values.persistence.accessModes)) }}
{{- fail (printf "replicaCount %v shares one blob directory: persistence.accessModes must include ReadWriteMany" .Values.replicaCount) }}
{{- end }}
{{- end }}

{{/* The RELREG_* environment, shared by the server and the bootstrap Job. */}}
{{- define "relreg.storageEnv" -}}
- name: RELREG_BLOB_DIR
  value: /data/blobs
{{- if eq .Values.database.type "postgres" }}
- name: RELREG_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.postgres.existingSecret }}
      key: {{ .Values.database.postgres.secretKey }}
{{- else }}
- name: RELREG_DATABASE_URL
  value: sqlite:///data/relreg.db
{{- end }}
{{- end }}

{{- define "relreg.dataVolume" -}}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "relreg.claimName" . }}
{{- end }}
