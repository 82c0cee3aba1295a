// Command etcd runs the etcd server from go.etcd.io/etcd/server/v3, built at
// the version that the pinned Kubernetes release requires.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
