{{/*
The rafthub configuration (docs/configuration.md, docs/kubernetes-spawner.md) rendered from the
values, as JSON, without the peers (they are added in configmap.yaml, so that the checksum
that rolls the pods on a config change does not change when only hub.replicas does).
Secrets never appear here: the config names files mounted from the chart's Secret.
*/}}
{{- define "rafthub.configData" -}}
{{- $v := .Values }}
{{- $secrets := "/etc/rafthub/secrets" }}

{{- /* [cluster] */}}
{{- $cluster := dict "secret_file" (printf "%s/cluster-secret" $secrets) }}
{{- $r := $v.hub.raft }}
{{- range $key, $val := dict "election_timeout_min_ms" $r.electionTimeoutMinMs "election_timeout_max_ms" $r.electionTimeoutMaxMs "heartbeat_ms" $r.heartbeatMs "snapshot_every" $r.snapshotEvery "write_timeout_ms" $r.writeTimeoutMs "auto_join" $r.autoJoin }}
{{- if not (kindIs "invalid" $val) }}{{ $_ := set $cluster $key $val }}{{ end }}
{{- end }}
{{- if $r.tls.enabled }}
{{- $_ := set $cluster "tls" (dict "cert" "/etc/rafthub/cluster-tls/tls.crt" "key" "/etc/rafthub/cluster-tls/tls.key" "ca" "/etc/rafthub/cluster-tls/ca.crt") }}
{{- end }}

{{- /* [hub], [[hub.services]], [[hub.roles]] */}}
{{- $h := $v.hub }}
{{- $hub := dict "base_url" $h.baseUrl "hub_connect_url" (include "rafthub.hubConnectUrl" .) "admin_users" ($h.adminUsers | default list) "allow_named_servers" $h.allowNamedServers }}
{{- range $key, $val := dict "public_url" $h.publicUrl "concurrent_spawn_limit" $h.concurrentSpawnLimit "active_server_limit" $h.activeServerLimit "named_server_limit_per_user" $h.namedServerLimitPerUser "authenticate_prometheus" $h.authenticatePrometheus "activity_flush_ms" $h.activityFlushMs "api_page_max_limit" $h.apiPageMaxLimit "redirect_to_server" $h.redirectToServer "template_paths" $h.templatePaths "template_vars" $h.templateVars }}
{{- if not (kindIs "invalid" $val) }}{{ $_ := set $hub $key $val }}{{ end }}
{{- end }}
{{- $services := list }}
{{- range $name, $s := $h.services }}
{{- $svc := dict "name" $name "api_token_file" (printf "%s/service-%s-token" $secrets $name) }}
{{- range $key := list "admin" "url" "display" "command" "environment" "oauth_no_confirm" }}
{{- if hasKey $s $key }}{{ $_ := set $svc $key (get $s $key) }}{{ end }}
{{- end }}
{{- $services = append $services $svc }}
{{- end }}
{{- $roles := list }}
{{- range $name, $role := $h.loadRoles }}
{{- $roles = append $roles (merge (dict "name" $name) (omit $role "name")) }}
{{- end }}
{{- if $v.cull.enabled }}
{{- if hasKey $h.services "jupyterhub-idle-culler" }}
{{- fail "hub.services.jupyterhub-idle-culler is the culler's name: rename that service or set cull.enabled=false" }}
{{- end }}
{{- $c := $v.cull }}
{{- $cmd := list "python3" "-m" "jupyterhub_idle_culler" (printf "--url=http://127.0.0.1:8081%shub/api" $h.baseUrl) (printf "--timeout=%d" (int $c.timeout)) (printf "--cull-every=%d" (int $c.every)) (printf "--concurrency=%d" (int $c.concurrency)) (printf "--max-age=%d" (int $c.maxAge)) }}
{{- $scopes := list "list:users" "read:users:activity" "read:servers" "delete:servers" }}
{{- if $c.users }}
{{- $cmd = append $cmd "--cull-users=true" }}
{{- $scopes = append $scopes "admin:users" }}
{{- end }}
{{- if not $c.adminUsers }}{{ $cmd = append $cmd "--cull-admin-users=false" }}{{ end }}
{{- if $c.removeNamedServers }}{{ $cmd = append $cmd "--remove-named-servers=true" }}{{ end }}
{{- $services = append $services (dict "name" "jupyterhub-idle-culler" "command" $cmd "display" false) }}
{{- $roles = append $roles (dict "name" "jupyterhub-idle-culler" "description" "What jupyterhub-idle-culler needs (cull.* values)" "scopes" $scopes "services" (list "jupyterhub-idle-culler")) }}
{{- end }}
{{- $_ := set $hub "services" $services }}
{{- $_ := set $hub "roles" $roles }}

{{- /* [proxy] */}}
{{- $proxy := dict "auth_token_file" (printf "%s/proxy-token" $secrets) }}
{{- if $v.proxy.api.enabled }}{{ $_ := set $proxy "api" "0.0.0.0:8001" }}{{ end }}
{{- if and $v.proxy.https.enabled (ne $v.proxy.https.type "offload") }}
{{- $_ := set $proxy "tls_cert" "/etc/rafthub/proxy-tls/tls.crt" }}
{{- $_ := set $proxy "tls_key" "/etc/rafthub/proxy-tls/tls.key" }}
{{- end }}

{{- /* [spawner] and [spawner.kubernetes] */}}
{{- $s := $v.singleuser }}
{{- $cmd := $s.cmd }}
{{- if kindIs "string" $cmd }}{{ $cmd = list $cmd }}{{ end }}
{{- $spawner := dict "kind" "kubernetes" "cmd" $cmd "start_timeout_s" $s.startTimeout "environment" ($s.extraEnv | default dict) }}
{{- with $s.defaultUrl }}{{ $_ := set $spawner "default_url" . }}{{ end }}
{{- $k := dict "image" (include "rafthub.image" (dict "image" $s.image "default" "latest")) "image_pull_secrets" (concat ($v.imagePullSecrets | default list) ($s.image.pullSecrets | default list) | uniq) }}
{{- with $s.namespace }}{{ $_ := set $k "namespace" . }}{{ end }}
{{- with $s.podNameTemplate }}{{ $_ := set $k "pod_name_template" . }}{{ end }}
{{- with $s.image.pullPolicy }}{{ $_ := set $k "image_pull_policy" . }}{{ end }}
{{- range $key, $val := dict "cpu_limit" $s.cpu.limit "cpu_guarantee" $s.cpu.guarantee }}
{{- if not (kindIs "invalid" $val) }}{{ $_ := set $k $key (float64 $val) }}{{ end }}
{{- end }}
{{- range $key, $val := dict "mem_limit" $s.memory.limit "mem_guarantee" $s.memory.guarantee }}
{{- if not (kindIs "invalid" $val) }}{{ $_ := set $k $key (toString $val) }}{{ end }}
{{- end }}
{{- $_ := set $k "node_selector" ($s.nodeSelector | default dict) }}
{{- $_ := set $k "tolerations" (concat ($v.scheduling.userPods.tolerations | default list) ($s.extraTolerations | default list)) }}
{{- $_ := set $k "affinity" (include "rafthub.userAffinity" . | fromJson) }}
{{- $_ := set $k "extra_labels" ($s.extraLabels | default dict) }}
{{- $_ := set $k "extra_annotations" ($s.extraAnnotations | default dict) }}
{{- $_ := set $k "uid" $s.uid }}
{{- $_ := set $k "fs_gid" $s.fsGid }}
{{- with $s.serviceAccountName }}{{ $_ := set $k "service_account" . }}{{ end }}
{{- $_ := set $k "lifecycle_hooks" ($s.lifecycleHooks | default dict) }}
{{- $_ := set $k "init_containers" ($s.initContainers | default list) }}
{{- $_ := set $k "extra_containers" ($s.extraContainers | default list) }}
{{- $_ := set $k "volumes" ($s.storage.extraVolumes | default list) }}
{{- $_ := set $k "volume_mounts" ($s.storage.extraVolumeMounts | default list) }}
{{- $st := $s.storage }}
{{- $storage := dict "type" $st.type "capacity" (toString $st.capacity) "home_mount_path" $st.homeMountPath "access_modes" ($st.dynamic.storageAccessModes | default (list "ReadWriteOnce")) }}
{{- with $st.dynamic.storageClass }}{{ $_ := set $storage "storage_class" . }}{{ end }}
{{- with $st.dynamic.pvcNameTemplate }}{{ $_ := set $storage "pvc_name_template" . }}{{ end }}
{{- $_ := set $k "storage" $storage }}
{{- $_ := set $k "profile_list" ($s.profileList | default list) }}
{{- $_ := set $spawner "kubernetes" $k }}

{{- /* [auth] */}}
{{- $a := $h.auth }}
{{- $auth := dict "kind" $a.kind "allow_signup" $a.allowSignup "min_password_length" $a.minPasswordLength }}
{{- range $key, $val := dict "allowed_users" $a.allowedUsers "blocked_users" $a.blockedUsers "allow_all" $a.allowAll "allow_existing_users" $a.allowExistingUsers "auto_login" $a.autoLogin "manage_groups" $a.manageGroups }}
{{- if $val }}{{ $_ := set $auth $key $val }}{{ end }}
{{- end }}
{{- with $a.oauth }}{{ $_ := set $auth "oauth" . }}{{ end }}
{{- with $a.ldap }}{{ $_ := set $auth "ldap" . }}{{ end }}

{{- $cfg := dict "data_dir" "/var/lib/rafthub/node" "listen" (dict "public" "0.0.0.0:8000" "api" "0.0.0.0:8081" "cluster" "0.0.0.0:8082") "cluster" $cluster "hub" $hub "proxy" $proxy "spawner" $spawner "auth" $auth }}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy ($h.config | default dict)) }}
{{- toJson $cfg }}
{{- end }}
