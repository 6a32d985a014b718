package etcd_test

import (
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence/drivertest"
)

func TestCountConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	drivertest.RunCountTests(t, harness(testOptions(srv), "count"))
}
