{{/*
orbit.validate fails the render on value combinations that cannot work.
*/}}
{{- define "orbit.validate" -}}
{{- if not (has .Values.workload.kind (list "Deployment" "StatefulSet")) -}}
{{- fail (printf "workload.kind: %q: want Deployment or StatefulSet" (toString .Values.workload.kind)) -}}
{{- end -}}
{{- if and (eq (include "orbit.perProcess" .) "true") (gt (int .Values.replicaCount) 1) -}}
{{- fail (printf "replicaCount: %d: the configuration uses a Memory or Flash provider, whose state is in one process and on its pod's disk; more than one replica would be separate clusters each placing the same addressables. Use replicaCount 1, or a shared provider (Etcd, Redis, S3, MinIO, Azure, GoogleCloud, Kubernetes)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (eq .Values.workload.kind "Deployment") .Values.persistence.enabled (gt (int .Values.replicaCount) 1) (not (has "ReadWriteMany" .Values.persistence.accessModes)) -}}
{{- fail (printf "persistence.enabled: a Deployment of %d replicas would share one %s claim, which pods on several nodes cannot mount; set persistence.enabled=false (shared providers keep nothing on disk) or use workload.kind=StatefulSet" (int .Values.replicaCount) (join "," .Values.persistence.accessModes)) -}}
{{- end -}}
{{- if and .Values.persistence.existingClaim (eq .Values.workload.kind "StatefulSet") -}}
{{- fail "persistence.existingClaim: a StatefulSet makes one claim per pod from its volumeClaimTemplate; existingClaim is for a Deployment" -}}
{{- end -}}
{{- if and .Values.rbac.create (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) -}}
{{- fail "rbac.create: the Role would be bound to the namespace's \"default\" ServiceAccount; set serviceAccount.create or serviceAccount.name" -}}
{{- end -}}
{{- if .Values.tls.clientCA -}}
{{- if not .Values.tls.secretName -}}
{{- fail "tls.clientCA: needs tls.secretName (the Secret's ca.crt is the client CA)" -}}
{{- end -}}
{{- range $which, $p := .Values.probes -}}
{{- if and $p (kindIs "map" $p) $p.httpGet (not (or $p.grpc $p.tcpSocket $p.exec)) -}}
{{- fail (printf "probes.%s: with tls.clientCA the server requires a client certificate, which the kubelet's HTTPS probes do not present; use a tcpSocket probe ({tcpSocket: {port: admin}}) or a grpc one" $which) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not .Values.config.raw -}}
{{- range $name, $p := (include "orbit.config" . | fromYaml).providers -}}
{{- if and (eq (toString $p.type) "Kubernetes") $.Values.rbac.create (ne (toString $p.namespace) $.Release.Namespace) -}}
{{- fail (printf "config.providers.%s.namespace: %q: the chart's Role (rbac.create) grants access in the release namespace %q only" $name (toString $p.namespace) $.Release.Namespace) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* orbit.podTemplate: the pod template of the Deployment or the StatefulSet. */}}
{{- define "orbit.podTemplate" -}}
metadata:
  labels:
    {{- include "orbit.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
    app.kubernetes.io/component: server
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A change of the configuration rolls the pods.
    checksum/config: {{ include "orbit.toml" . | sha256sum }}
    {{- if .Values.metrics.podAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ .Values.server.adminPort | quote }}
    prometheus.io/path: /metrics
    prometheus.io/scheme: {{ include "orbit.adminScheme" . | lower | quote }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "orbit.serviceAccountName" . }}
  automountServiceAccountToken: {{ include "orbit.automountToken" . }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: orbit-server
      image: {{ include "orbit.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --config=/etc/orbit/orbit.toml
        - --port={{ .Values.server.grpcPort }}
        # 0.0.0.0: the kubelet's probes and Prometheus reach the pod's IP.
        - --admin-addr=0.0.0.0:{{ .Values.server.adminPort }}
        - --namespace={{ .Values.server.namespace }}
        - --log-level={{ .Values.server.logLevel }}
        - --log-format={{ .Values.server.logFormat }}
        - --shutdown-timeout={{ .Values.server.shutdownTimeout }}
        {{- if .Values.tls.secretName }}
        - --tls-cert=/etc/orbit/tls/tls.crt
        - --tls-key=/etc/orbit/tls/tls.key
        {{- if .Values.tls.clientCA }}
        - --tls-client-ca=/etc/orbit/tls/ca.crt
        {{- end }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      ports:
        - name: grpc
          containerPort: {{ .Values.server.grpcPort }}
          protocol: TCP
        - name: admin
          containerPort: {{ .Values.server.adminPort }}
          protocol: TCP
      {{- $env := list }}
      {{- range .Values.secrets.existing }}
      {{- $env = append $env (dict "name" (include "orbit.secretEnvName" .) "valueFrom" (dict "secretKeyRef" (dict "name" .secretName "key" .secretKey))) }}
      {{- end }}
      {{- if .Values.secrets.create }}
      {{- range .Values.secrets.values }}
      {{- $n := include "orbit.secretEnvName" . }}
      {{- $env = append $env (dict "name" $n "valueFrom" (dict "secretKeyRef" (dict "name" (printf "%s-provider-secrets" (include "orbit.fullname" $)) "key" $n))) }}
      {{- end }}
      {{- end }}
      {{- $env = concat $env .Values.extraEnv }}
      {{- with $env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $scheme := include "orbit.adminScheme" . }}
      {{- with .Values.probes.liveness }}
      livenessProbe:
        {{- include "orbit.probe" (dict "probe" . "scheme" $scheme) | nindent 8 }}
      {{- end }}
      {{- with .Values.probes.readiness }}
      readinessProbe:
        {{- include "orbit.probe" (dict "probe" . "scheme" $scheme) | nindent 8 }}
      {{- end }}
      {{- with .Values.probes.startup }}
      startupProbe:
        {{- include "orbit.probe" (dict "probe" . "scheme" $scheme) | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/orbit/orbit.toml
          subPath: orbit.toml
          readOnly: true
        - name: data
          mountPath: {{ .Values.persistence.mountPath }}
        - name: tmp
          mountPath: /tmp
        {{- if .Values.tls.secretName }}
        - name: tls
          mountPath: /etc/orbit/tls
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "orbit.fullname" . }}-config
    {{- if eq .Values.workload.kind "Deployment" }}
    - name: data
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ default (printf "%s-data" (include "orbit.fullname" .)) .Values.persistence.existingClaim }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- else if not .Values.persistence.enabled }}
    - name: data
      emptyDir: {}
    {{- end }}
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 64Mi
    {{- if .Values.tls.secretName }}
    - name: tls
      secret:
        secretName: {{ .Values.tls.secretName }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
orbit.probe renders (dict "probe" P "scheme" S): P, with S as the scheme of
an httpGet that names none (HTTPS when the server serves TLS). A grpc,
tcpSocket or exec handler replaces the default httpGet (values merge maps,
so an override would otherwise carry both).
*/}}
{{- define "orbit.probe" -}}
{{- $p := deepCopy .probe -}}
{{- if or $p.grpc $p.tcpSocket $p.exec -}}
{{- $_ := unset $p "httpGet" -}}
{{- end -}}
{{- if gt (len (pick $p "grpc" "tcpSocket" "exec")) 1 -}}
{{- fail (printf "probes: %v: a probe has one handler (httpGet, grpc, tcpSocket or exec)" (keys (pick $p "grpc" "tcpSocket" "exec") | sortAlpha)) -}}
{{- end -}}
{{- if and $p.httpGet (not $p.httpGet.scheme) -}}
{{- $_ := set $p.httpGet "scheme" .scheme -}}
{{- end -}}
{{- toYaml $p -}}
{{- end -}}
