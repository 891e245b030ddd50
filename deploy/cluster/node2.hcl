# Node 2 of the local three-node dev cluster (scripts/cluster, make cluster).
# Paths are relative to the repository root, where scripts/cluster runs.
storage "raft" {
  path    = "./.cluster/node2"
  node_id = "node2"
  # scripts/cluster joins explicitly (sys/storage/raft/join); a node can
  # also join by itself once unsealed:
  # retry_join { leader_api_addr = "http://127.0.0.1:8200" }
}

listener "tcp" {
  address         = "127.0.0.1:8210"
  cluster_address = "127.0.0.1:8211"
  tls_disable     = true
}

api_addr      = "http://127.0.0.1:8210"
cluster_addr  = "https://127.0.0.1:8211"
disable_mlock = true
log_level     = "info"
