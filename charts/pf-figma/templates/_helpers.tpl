{{/*
Names, labels and shared pieces of the pf-figma chart.
*/}}

{{/* The chart's name (nameOverride wins), at most 63 characters. */}}
{{- define "pf-figma.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: fullnameOverride, else <release>-<name> (just <release> when the
release name already contains the chart name). At most 63 characters (DNS label limit); the
names derived from it (e.g. <fullname>-postgresql) are truncated again.
*/}}
{{- define "pf-figma.fullname" -}}
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

{{/* chart label value: <name>-<version> */}}
{{- define "pf-figma.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object of the release carries, except app.kubernetes.io/component. */}}
{{- define "pf-figma.baseLabels" -}}
helm.sh/chart: {{ include "pf-figma.chart" . }}
app.kubernetes.io/name: {{ include "pf-figma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pf-figma
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of the operator's objects. */}}
{{- define "pf-figma.labels" -}}
{{ include "pf-figma.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Selector labels of the operator pods (immutable once installed). */}}
{{- define "pf-figma.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pf-figma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Name of the operator's ServiceAccount. */}}
{{- define "pf-figma.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pf-figma.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; tag defaults to the appVersion. */}}
{{- define "pf-figma.imageRef" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (toString (default $root.Chart.AppVersion $image.tag)) -}}
{{- end -}}
{{- end }}

{{/* The operator image. */}}
{{- define "pf-figma.image" -}}
{{- include "pf-figma.imageRef" (list .Values.image .) }}
{{- end }}

{{/* The agent image (the operator's PF_AGENT_IMAGE). */}}
{{- define "pf-figma.agentImage" -}}
{{- include "pf-figma.imageRef" (list .Values.agent.image .) }}
{{- end }}

{{/* "true" when the replicas elect a leader: explicit value, else on when replicaCount > 1. */}}
{{- define "pf-figma.leaderElection" -}}
{{- $le := .Values.operator.leaderElection.enabled -}}
{{- if kindIs "bool" $le -}}
{{- ternary "true" "false" $le -}}
{{- else -}}
{{- ternary "true" "false" (gt (int .Values.replicaCount) 1) -}}
{{- end -}}
{{- end }}

{{/* Name of the Lease the replicas compete for. */}}
{{- define "pf-figma.leaseName" -}}
{{- default (include "pf-figma.fullname" .) .Values.operator.leaderElection.leaseName }}
{{- end }}

{{/* Bundled PostgreSQL: name of its StatefulSet, Service and Secret. */}}
{{- define "pf-figma.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "pf-figma.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{- define "pf-figma.postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pf-figma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: postgresql
{{- end }}

{{/*
The database the operator uses ("postgresql", "dsn", "existingSecret" or "" for none), and the
Secret + key that hold its DSN (env PF_DATABASE_DSN).
*/}}
{{- define "pf-figma.database.mode" -}}
{{- if .Values.postgresql.enabled -}}postgresql
{{- else if .Values.database.existingSecret -}}existingSecret
{{- else if .Values.database.dsn -}}dsn
{{- end -}}
{{- end }}

{{- define "pf-figma.database.secretName" -}}
{{- $mode := include "pf-figma.database.mode" . -}}
{{- if eq $mode "postgresql" -}}{{ include "pf-figma.postgresql.fullname" . }}
{{- else if eq $mode "existingSecret" -}}{{ .Values.database.existingSecret }}
{{- else if eq $mode "dsn" -}}{{ printf "%s-database" (include "pf-figma.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end -}}
{{- end }}

{{- define "pf-figma.database.secretKey" -}}
{{- if eq (include "pf-figma.database.mode" .) "existingSecret" -}}{{ .Values.database.existingSecretKey }}
{{- else -}}dsn
{{- end -}}
{{- end }}

{{/*
Label selector of this release's metrics in Prometheus (alerts and dashboard): the
ServiceMonitor's job label is the metrics Service's name.
*/}}
{{- define "pf-figma.metricsSelector" -}}
{{- default (printf "namespace=%q,job=%q" .Release.Namespace (printf "%s-metrics" (include "pf-figma.fullname" .))) .Values.metrics.prometheusRule.selector }}
{{- end }}

{{/*
pf-figma.checkCIDR (list "<values path>" "<cidr>"): an IPv4 CIDR must have no host bits
(the operator parses them strictly and would refuse to start). The schema checks the syntax.
*/}}
{{- define "pf-figma.checkCIDR" -}}
{{- $path := index . 0 -}}
{{- $cidr := index . 1 -}}
{{- if regexMatch "^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+/[0-9]+$" $cidr -}}
{{- $parts := splitList "/" $cidr -}}
{{- $prefix := atoi (index $parts 1) -}}
{{- if gt $prefix 32 -}}
{{- fail (printf "%s: %q is not a CIDR: the prefix length of an IPv4 network is 0 to 32" $path $cidr) -}}
{{- end -}}
{{- $addr := 0 -}}
{{- range splitList "." (index $parts 0) -}}
{{- if gt (atoi .) 255 -}}
{{- fail (printf "%s: %q is not a CIDR: each part of an IPv4 address is 0 to 255" $path $cidr) -}}
{{- end -}}
{{- $addr = add (mul $addr 256) (atoi .) -}}
{{- end -}}
{{- $size := 1 -}}
{{- range until (sub 32 $prefix | int) -}}
{{- $size = mul $size 2 -}}
{{- end -}}
{{- if ne (mod $addr $size) 0 -}}
{{- $net := sub $addr (mod $addr $size) -}}
{{- fail (printf "%s: %q has host bits set; write the network address %d.%d.%d.%d/%d" $path $cidr (div $net 16777216) (mod (div $net 65536) 256) (mod (div $net 256) 256) (mod $net 256) $prefix) -}}
{{- end -}}
{{- else if gt (atoi (last (splitList "/" $cidr))) 128 -}}
{{- fail (printf "%s: %q is not a CIDR: the prefix length of an IPv6 network is 0 to 128" $path $cidr) -}}
{{- end -}}
{{- end }}

{{/*
Checks across values that values.schema.json cannot express; each fails with the values path
and what to do.
*/}}
{{- define "pf-figma.validate" -}}
{{- $v := .Values -}}
{{- if and (gt (int $v.replicaCount) 1) (eq (include "pf-figma.leaderElection" .) "false") -}}
{{- fail "replicaCount > 1 needs leader election: unset operator.leaderElection.enabled (it defaults to on with more than one replica) or set it to true; two active operators would reconcile the same objects" -}}
{{- end -}}
{{- $dbs := list -}}
{{- if $v.postgresql.enabled }}{{ $dbs = append $dbs "postgresql.enabled" }}{{ end -}}
{{- if $v.database.dsn }}{{ $dbs = append $dbs "database.dsn" }}{{ end -}}
{{- if $v.database.existingSecret }}{{ $dbs = append $dbs "database.existingSecret" }}{{ end -}}
{{- if gt (len $dbs) 1 -}}
{{- fail (printf "set only one of database.existingSecret, database.dsn and postgresql.enabled (now set: %s)" (join ", " $dbs)) -}}
{{- end -}}
{{- if and $v.postgresql.enabled (eq $v.postgresql.username "postgres") -}}
{{- fail "postgresql.username must not be \"postgres\": the operator's role must not be a superuser (row-level security would not apply to it)" -}}
{{- end -}}
{{- if and $v.podDisruptionBudget.enabled (gt (int $v.replicaCount) 1) (not (kindIs "string" $v.podDisruptionBudget.minAvailable)) -}}
{{- if ge (int $v.podDisruptionBudget.minAvailable) (int $v.replicaCount) -}}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be lower than replicaCount (%d), or no node could ever be drained" (int $v.podDisruptionBudget.minAvailable) (int $v.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- range $i, $c := $v.operator.clusterCIDRs.pod -}}
{{- include "pf-figma.checkCIDR" (list (printf "operator.clusterCIDRs.pod[%d]" $i) $c) -}}
{{- end -}}
{{- range $i, $c := $v.operator.clusterCIDRs.service -}}
{{- include "pf-figma.checkCIDR" (list (printf "operator.clusterCIDRs.service[%d]" $i) $c) -}}
{{- end -}}
{{- range $i, $c := $v.networkPolicy.apiServer.cidrs -}}
{{- include "pf-figma.checkCIDR" (list (printf "networkPolicy.apiServer.cidrs[%d]" $i) $c) -}}
{{- end -}}
{{- range $i, $c := $v.networkPolicy.database.cidrs -}}
{{- include "pf-figma.checkCIDR" (list (printf "networkPolicy.database.cidrs[%d]" $i) $c) -}}
{{- end -}}
{{- end }}

{{/* Pod placement block shared by the operator pods (nodeSelector, tolerations, ...). */}}
{{- define "pf-figma.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
