# Node 3 of the local three-node dev cluster (scripts/cluster, make cluster).
# Paths are relative to the repository root, where scripts/cluster runs.
storage "raft" {
  path    = "./.cluster/node3"
  node_id = "node3"
  # scripts/cluster joins explicitly (sys/storage/raft/join); a node can
  # also join by itself once unsealed:
  # retry_join { leader_api_addr = "http://127.0.0.1:8200" }
}

listener "tcp" {
  address         = "127.0.0.1:8220"
  cluster_address = "127.0.0.1:8221"
  tls_disable     = true
}

api_addr      = "http://127.0.0.1:8220"
cluster_addr  = "https://127.0.0.1:8221"
disable_mlock = true
log_level     = "info"
