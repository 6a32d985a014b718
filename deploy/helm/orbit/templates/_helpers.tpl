{{/*
Names, labels and the orbit.toml renderer of the chart.
*/}}

{{/* orbit.name: the chart name, or nameOverride (63 characters at most). */}}
{{- define "orbit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
orbit.fullname: the prefix of every object's name: fullnameOverride, else the
release name when it already contains the chart name, else
<release>-<chart>; 63 characters at most (a DNS label).
*/}}
{{- define "orbit.fullname" -}}
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

{{/* orbit.chart: <chart>-<version>, the helm.sh/chart label. */}}
{{- define "orbit.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* orbit.selectorLabels: the labels that select the pods (immutable in a Deployment or StatefulSet). */}}
{{- define "orbit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orbit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* orbit.labels: the standard labels of every object, plus commonLabels. */}}
{{- define "orbit.labels" -}}
helm.sh/chart: {{ include "orbit.chart" . }}
{{ include "orbit.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: orbit
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* orbit.serviceAccountName: the ServiceAccount the pods run as. */}}
{{- define "orbit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "orbit.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* orbit.image: repository:tag (tag defaults to the chart's appVersion; "latest" is refused). */}}
{{- define "orbit.image" -}}
{{- $tag := toString (default .Chart.AppVersion .Values.image.tag) -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag: \"latest\" is refused: pin a release tag (default: the chart's appVersion) or a digest" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
orbit.config: the effective configuration as a dict (defaults, providers,
server) from .Values.config, with every Kubernetes provider (top level or a
composite's child) that names no namespace given the release namespace.
Returned as YAML; use `include "orbit.config" . | fromYaml`.
*/}}
{{- define "orbit.config" -}}
{{- $cfg := dict -}}
{{- with .Values.config.defaults }}{{ $_ := set $cfg "defaults" (deepCopy .) }}{{ end -}}
{{- $providers := dict -}}
{{- range $name, $p := (.Values.config.providers | default dict) -}}
{{- if $p -}}
{{- $p = deepCopy $p -}}
{{- if and (eq (toString $p.type) "Kubernetes") (not (hasKey $p "namespace")) -}}
{{- $_ := set $p "namespace" $.Release.Namespace -}}
{{- end -}}
{{- range $child := list "primary" "backup" -}}
{{- $c := index $p $child -}}
{{- if and (kindIs "map" $c) (eq (toString $c.type) "Kubernetes") (not (hasKey $c "namespace")) -}}
{{- $_ := set $c "namespace" $.Release.Namespace -}}
{{- end -}}
{{- end -}}
{{- $_ := set $providers $name $p -}}
{{- end -}}
{{- end -}}
{{- $_ := set $cfg "providers" $providers -}}
{{- with .Values.config.server }}{{ $_ := set $cfg "server" (deepCopy .) }}{{ end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* orbit.toml: the orbit.toml file: config.raw verbatim, else config rendered to TOML. */}}
{{- define "orbit.toml" -}}
{{- if .Values.config.raw -}}
{{- .Values.config.raw -}}
{{- else -}}
{{- $cfg := include "orbit.config" . | fromYaml -}}
{{- if not $cfg.providers -}}
{{- fail "config.providers: configure at least one provider (or give the whole file in config.raw)" -}}
{{- end -}}
{{- include "orbit.toml.table" (dict "path" "" "map" $cfg) | trim -}}
{{- end -}}
{{- end -}}

{{/*
orbit.toml.table renders (dict "path" P "map" M): a [P] header (unless P is
"" or M holds only tables), M's scalar and array keys in key order, then each
of M's tables as [P.KEY], recursively. Null values are left out.
*/}}
{{- define "orbit.toml.table" -}}
{{- $m := .map -}}
{{- $scalars := list -}}
{{- $tables := list -}}
{{- range $k := keys $m | sortAlpha -}}
{{- $v := index $m $k -}}
{{- if kindIs "map" $v -}}
{{- $tables = append $tables $k -}}
{{- else if eq $k "type" -}}
{{- $scalars = prepend $scalars $k -}}
{{- else if not (kindIs "invalid" $v) -}}
{{- $scalars = append $scalars $k -}}
{{- end -}}
{{- end -}}
{{- if and .path (or $scalars (not $tables)) }}

[{{ .path }}]
{{- end -}}
{{- range $k := $scalars }}
{{ include "orbit.toml.key" $k }} = {{ include "orbit.toml.value" (dict "key" $k "value" (index $m $k)) }}
{{- end -}}
{{- $path := .path -}}
{{- range $k := $tables -}}
{{- $sub := include "orbit.toml.key" $k -}}
{{- if $path }}{{ $sub = printf "%s.%s" $path $sub }}{{ end -}}
{{- include "orbit.toml.table" (dict "path" $sub "map" (index $m $k)) -}}
{{- end -}}
{{- end -}}

{{/* orbit.toml.key: a bare TOML key, or a quoted one when it has other characters. */}}
{{- define "orbit.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{/*
orbit.toml.value renders (dict "key" K "value" V) as a TOML value: a string
(JSON escapes are TOML escapes), a boolean, an integer (orbit.toml has no
fractional numbers: one is refused), or an array of those.
*/}}
{{- define "orbit.toml.value" -}}
{{- $v := .value -}}
{{- if kindIs "string" $v -}}
{{- toJson $v -}}
{{- else if kindIs "bool" $v -}}
{{- $v -}}
{{- else if or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v) -}}
{{- if ne (floor $v) (float64 $v) -}}
{{- fail (printf "config: key %q: %v is not an integer (orbit.toml numbers are integers: seconds, bytes, counts)" .key $v) -}}
{{- end -}}
{{- int64 $v -}}
{{- else if kindIs "slice" $v -}}
{{- $items := list -}}
{{- range $v -}}
{{- if kindIs "map" . -}}
{{- fail (printf "config: key %q: an array of tables is not part of orbit.toml" $.key) -}}
{{- end -}}
{{- $items = append $items (include "orbit.toml.value" (dict "key" $.key "value" .)) -}}
{{- end -}}
[{{ join ", " $items }}]
{{- else -}}
{{- fail (printf "config: key %q: unsupported value %v" .key $v) -}}
{{- end -}}
{{- end -}}

{{/*
orbit.perProcess: "true" when the configuration uses a provider whose state
is in the process or on the pod's disk (Memory, Flash, anywhere, a
composite's children included): such a server cannot share its state, so
the chart runs exactly one replica of it.
*/}}
{{- define "orbit.perProcess" -}}
{{- if .Values.config.raw -}}
{{- if regexMatch "type\\s*=\\s*[\"'](Memory|Flash)[\"']" .Values.config.raw }}true{{ end -}}
{{- else -}}
{{- $found := false -}}
{{- range $name, $p := (.Values.config.providers | default dict) -}}
{{- if $p -}}
{{- if has (toString $p.type) (list "Memory" "Flash") }}{{ $found = true }}{{ end -}}
{{- range $child := list "primary" "backup" -}}
{{- $c := index $p $child -}}
{{- if and (kindIs "map" $c) (has (toString $c.type) (list "Memory" "Flash")) }}{{ $found = true }}{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $found }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/*
orbit.usesKubernetesProvider: "true" when the configuration has a provider
of type Kubernetes (the pods then need their service-account token).
*/}}
{{- define "orbit.usesKubernetesProvider" -}}
{{- if .Values.config.raw -}}
{{- if regexMatch "type\\s*=\\s*[\"']Kubernetes[\"']" .Values.config.raw }}true{{ end -}}
{{- else -}}
{{- $found := false -}}
{{- range $name, $p := (.Values.config.providers | default dict) -}}
{{- if $p -}}
{{- if eq (toString $p.type) "Kubernetes" }}{{ $found = true }}{{ end -}}
{{- range $child := list "primary" "backup" -}}
{{- $c := index $p $child -}}
{{- if and (kindIs "map" $c) (eq (toString $c.type) "Kubernetes") }}{{ $found = true }}{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $found }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* orbit.automountToken: whether the pods mount a service-account token. */}}
{{- define "orbit.automountToken" -}}
{{- $a := .Values.serviceAccount.automountToken -}}
{{- if kindIs "bool" $a -}}
{{- $a -}}
{{- else -}}
{{- or .Values.rbac.create (eq (include "orbit.usesKubernetesProvider" .) "true") -}}
{{- end -}}
{{- end -}}

{{/*
orbit.secretEnvName: ORBIT_PROVIDER_<NAME>_<KEY> for (dict "provider" P "key" K):
the provider name upper-cased with '-' as '_', the key path upper-cased with
'.' as "__" (docs/configuration.md, section 3).
*/}}
{{- define "orbit.secretEnvName" -}}
{{- if not (regexMatch "^[a-zA-Z0-9_-]+$" (toString .provider)) -}}
{{- fail (printf "secrets: provider %q: a provider name has only letters, digits, '_' and '-'" (toString .provider)) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9_]+(\\.[a-z0-9_]+)*$" (toString .key)) -}}
{{- fail (printf "secrets: provider %q key %q: a key path is lower-case snake_case keys joined by '.' (e.g. password, primary.password)" (toString .provider) (toString .key)) -}}
{{- end -}}
{{- printf "ORBIT_PROVIDER_%s_%s" (.provider | replace "-" "_" | upper) (.key | replace "." "__" | upper) -}}
{{- end -}}

{{/* orbit.adminScheme: HTTPS when the server serves TLS (the admin port follows gRPC), else HTTP. */}}
{{- define "orbit.adminScheme" -}}
{{- if .Values.tls.secretName }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}
