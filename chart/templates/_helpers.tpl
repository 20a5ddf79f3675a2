{{/* Names. */}}
{{- define "rafthub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rafthub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rafthub.peersService" -}}{{ include "rafthub.fullname" . }}-peers{{- end }}
{{- define "rafthub.configMapName" -}}{{ include "rafthub.fullname" . }}-config{{- end }}
{{- define "rafthub.secretName" -}}{{ include "rafthub.fullname" . }}-secret{{- end }}
{{- define "rafthub.proxyTlsSecretName" -}}
{{- if eq .Values.proxy.https.type "secret" }}{{ .Values.proxy.https.secret.name }}{{ else }}{{ include "rafthub.fullname" . }}-proxy-tls{{ end }}
{{- end }}
{{- define "rafthub.serviceAccountName" -}}
{{- if .Values.hub.serviceAccount.create }}{{ default (include "rafthub.fullname" .) .Values.hub.serviceAccount.name }}{{ else }}{{ default "default" .Values.hub.serviceAccount.name }}{{ end }}
{{- end }}
{{- define "rafthub.userNamespace" -}}{{ default .Release.Namespace .Values.singleuser.namespace }}{{- end }}

{{/* Labels: common labels, and the selector labels of one component (pass dict "root" . "component" "hub"). */}}
{{- define "rafthub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "rafthub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "rafthub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rafthub.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rafthub.componentLabels" -}}
{{ include "rafthub.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* image: "name:tag" from {name, tag}, the tag defaulting to .default. */}}
{{- define "rafthub.image" -}}
{{- printf "%s:%s" .image.name (toString (default .default .image.tag)) }}
{{- end }}

{{/* imagePullSecrets of a pod: the global list plus the image's own (pass dict "root" . "image" IMAGE). */}}
{{- define "rafthub.imagePullSecrets" -}}
{{- $names := concat (.root.Values.imagePullSecrets | default list) (.image.pullSecrets | default list) | uniq }}
{{- range $names }}
- name: {{ . }}
{{- end }}
{{- end }}

{{/*
Mutates a map in place so that toToml renders what rafthub expects: null values are dropped
(rafthub's default applies), and whole-number floats become integers (Helm reads every YAML
number as a float, which toToml would write as 3600.0, and rafthub's integer keys reject that).
Recurses into maps and lists.
*/}}
{{- define "rafthub.normalize" -}}
{{- $m := . }}
{{- range $k, $v := $m }}
{{- if kindIs "invalid" $v }}
{{- $_ := unset $m $k }}
{{- else if kindIs "float64" $v }}
{{- if eq $v (floor $v) }}{{ $_ := set $m $k (int64 $v) }}{{ end }}
{{- else if kindIs "map" $v }}
{{- include "rafthub.normalize" $v }}
{{- else if kindIs "slice" $v }}
{{- $out := list }}
{{- range $v }}
{{- $box := dict "x" . }}
{{- include "rafthub.normalize" $box }}
{{- if hasKey $box "x" }}{{ $out = append $out $box.x }}{{ end }}
{{- end }}
{{- $_ := set $m $k $out }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Raft peers, as "ID=CLUSTER_ADDR/API_ADDR" (RAFTHUB_PEERS), one per replica: node id = ordinal + 1. */}}
{{- define "rafthub.peerAddress" -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "rafthub.fullname" .root) (int .ordinal) (include "rafthub.peersService" .root) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{- define "rafthub.peersEnv" -}}
{{- $peers := list }}
{{- range $i := until (int .Values.hub.replicas) }}
{{- $host := include "rafthub.peerAddress" (dict "root" $ "ordinal" $i) }}
{{- $peers = append $peers (printf "%d=%s:8082/%s:8081" (add $i 1) $host $host) }}
{{- end }}
{{- join "," $peers }}
{{- end }}

{{/* Where servers and managed services reach the hub API: the hub Service (hub.hub_connect_url). */}}
{{- define "rafthub.hubConnectUrl" -}}
{{- printf "http://%s.%s.svc.%s:8081" (include "rafthub.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* Node affinity toward nodes labelled hub.jupyter.org/node-purpose=PURPOSE (pass dict "match" prefer|require|ignore "purpose" core|user). */}}
{{- define "rafthub.nodePurposeAffinity" -}}
{{- $term := dict "matchExpressions" (list (dict "key" "hub.jupyter.org/node-purpose" "operator" "In" "values" (list .purpose))) }}
{{- $out := dict "required" list "preferred" list }}
{{- if eq .match "require" }}
{{- $_ := set $out "required" (list $term) }}
{{- else if eq .match "prefer" }}
{{- $_ := set $out "preferred" (list (dict "weight" 100 "preference" $term)) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The affinity of user pods (and of the user-placeholder pods that stand in for them), as JSON:
scheduling.userPods.nodeAffinity plus singleuser.extra{Node,Pod,PodAnti}Affinity.
*/}}
{{- define "rafthub.userAffinity" -}}
{{- $s := .Values.singleuser }}
{{- $purpose := include "rafthub.nodePurposeAffinity" (dict "match" .Values.scheduling.userPods.nodeAffinity.matchNodePurpose "purpose" "user") | fromJson }}
{{- $aff := dict }}
{{- $nodeReq := concat $purpose.required ($s.extraNodeAffinity.required | default list) }}
{{- $nodePref := concat $purpose.preferred ($s.extraNodeAffinity.preferred | default list) }}
{{- if or $nodeReq $nodePref }}
{{- $na := dict }}
{{- if $nodeReq }}{{ $_ := set $na "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" $nodeReq) }}{{ end }}
{{- if $nodePref }}{{ $_ := set $na "preferredDuringSchedulingIgnoredDuringExecution" $nodePref }}{{ end }}
{{- $_ := set $aff "nodeAffinity" $na }}
{{- end }}
{{- range $key, $src := dict "podAffinity" $s.extraPodAffinity "podAntiAffinity" $s.extraPodAntiAffinity }}
{{- if or $src.required $src.preferred }}
{{- $pa := dict }}
{{- if $src.required }}{{ $_ := set $pa "requiredDuringSchedulingIgnoredDuringExecution" $src.required }}{{ end }}
{{- if $src.preferred }}{{ $_ := set $pa "preferredDuringSchedulingIgnoredDuringExecution" $src.preferred }}{{ end }}
{{- $_ := set $aff $key $pa }}
{{- end }}
{{- end }}
{{- toJson $aff }}
{{- end }}

{{/* Requests and limits of a user pod from singleuser.cpu/memory (for user-placeholder pods), as JSON. */}}
{{- define "rafthub.singleuserResources" -}}
{{- $s := .Values.singleuser }}
{{- $req := dict }}
{{- $lim := dict }}
{{- with $s.cpu.guarantee }}{{ $_ := set $req "cpu" (toString .) }}{{ end }}
{{- with $s.memory.guarantee }}{{ $_ := set $req "memory" (toString .) }}{{ end }}
{{- with $s.cpu.limit }}{{ $_ := set $lim "cpu" (toString .) }}{{ end }}
{{- with $s.memory.limit }}{{ $_ := set $lim "memory" (toString .) }}{{ end }}
{{- $out := dict }}
{{- if $req }}{{ $_ := set $out "requests" $req }}{{ end }}
{{- if $lim }}{{ $_ := set $out "limits" $lim }}{{ end }}
{{- toJson $out }}
{{- end }}

{{/* The user images to pre-pull: singleuser.image, init/extra containers, profile and profile option images, prePuller.extraImages. As JSON [{name, image, pullPolicy}]. */}}
{{- define "rafthub.prePullImages" -}}
{{- $v := .Values }}
{{- $out := list (dict "name" "image-pull-singleuser" "image" (include "rafthub.image" (dict "image" $v.singleuser.image "default" "latest")) "pullPolicy" ($v.singleuser.image.pullPolicy | default "")) }}
{{- range $i, $c := concat ($v.singleuser.initContainers | default list) ($v.singleuser.extraContainers | default list) }}
{{- if $c.image }}
{{- $out = append $out (dict "name" (printf "image-pull-singleuser-containers-%d" $i) "image" $c.image "pullPolicy" "") }}
{{- end }}
{{- end }}
{{- if $v.prePuller.pullProfileListImages }}
{{- range $i, $p := $v.singleuser.profileList }}
{{- with $p.kubespawner_override }}
{{- if .image }}
{{- $out = append $out (dict "name" (printf "image-pull-singleuser-profilelist-%d" $i) "image" .image "pullPolicy" "") }}
{{- end }}
{{- end }}
{{- range $option, $spec := $p.profile_options }}
{{- range $choice, $c := $spec.choices }}
{{- with $c.kubespawner_override }}
{{- if .image }}
{{- $out = append $out (dict "name" (printf "image-pull-profile-%d-option-%s-%s" $i $option $choice | lower) "image" .image "pullPolicy" "") }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $k, $img := $v.prePuller.extraImages }}
{{- $out = append $out (dict "name" (printf "image-pull-%s" $k) "image" (printf "%s:%s" $img.name (toString $img.tag)) "pullPolicy" ($img.pullPolicy | default "")) }}
{{- end }}
{{- toJson $out }}
{{- end }}
