# Node 1 of the local three-node dev cluster (scripts/cluster, make cluster).
# Paths are relative to the repository root, where scripts/cluster runs.
storage "raft" {
  path    = "./.cluster/node1"
  node_id = "node1"
}

listener "tcp" {
  address         = "127.0.0.1:8200"
  cluster_address = "127.0.0.1:8201"
  tls_disable     = true
}

api_addr      = "http://127.0.0.1:8200"
cluster_addr  = "https://127.0.0.1:8201"
disable_mlock = true
log_level     = "info"
