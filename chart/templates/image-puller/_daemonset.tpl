{{/*
An image-puller DaemonSet (pass dict "root" . "hook" true|false): each user image is an init
container that exits at once, so a pod is Running only when every image is on its node.
*/}}
{{- define "rafthub.imagePuller" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $component := ternary "hook-image-puller" "continuous-image-puller" .hook }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ include "rafthub.fullname" $root }}-{{ $component }}
  labels:
    {{- include "rafthub.componentLabels" (dict "root" $root "component" $component) | nindent 4 }}
  {{- if .hook }}
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
    "helm.sh/hook-weight": "-10"
  {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "rafthub.selectorLabels" (dict "root" $root "component" $component) | nindent 6 }}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 100%
  template:
    metadata:
      labels:
        {{- include "rafthub.componentLabels" (dict "root" $root "component" $component) | nindent 8 }}
        {{- with $v.prePuller.labels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.prePuller.annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- if $v.scheduling.podPriority.enabled }}
      priorityClassName: {{ include "rafthub.fullname" $root }}-image-puller-priority
      {{- end }}
      {{- with $v.singleuser.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with concat ($v.scheduling.userPods.tolerations | default list) ($v.singleuser.extraTolerations | default list) ($v.prePuller.extraTolerations | default list) }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $aff := include "rafthub.userAffinity" $root | fromJson }}
      {{- with $aff.nodeAffinity }}
      {{- with .requiredDuringSchedulingIgnoredDuringExecution }}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            {{- toYaml . | nindent 12 }}
      {{- end }}
      {{- end }}
      terminationGracePeriodSeconds: 0
      automountServiceAccountToken: false
      {{- with include "rafthub.imagePullSecrets" (dict "root" $root "image" $v.singleuser.image) }}
      imagePullSecrets:
        {{- . | nindent 8 }}
      {{- end }}
      initContainers:
        {{- range include "rafthub.prePullImages" $root | fromJsonArray }}
        - name: {{ .name | trunc 63 | trimSuffix "-" }}
          image: {{ .image }}
          {{- with .pullPolicy }}
          imagePullPolicy: {{ . }}
          {{- end }}
          command: ["/bin/sh", "-c", "echo Pulling complete"]
          {{- with $v.prePuller.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.prePuller.containerSecurityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        {{- end }}
      containers:
        - name: pause
          image: {{ include "rafthub.image" (dict "image" $v.prePuller.pause.image "default" "latest") }}
          {{- with $v.prePuller.pause.image.pullPolicy }}
          imagePullPolicy: {{ . }}
          {{- end }}
          {{- with $v.prePuller.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.prePuller.pause.containerSecurityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
{{- end }}
