package kubernetes

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func init() {
	persistence.RegisterDriver(config.TypeKubernetes, open)
}

func open(ctx context.Context, cfg config.ProviderConfig, _ persistence.DriverEnv) (driver.Store, error) {
	return Open(ctx, OptionsFromConfig(cfg.(*config.KubernetesConfig)))
}

// OptionsFromConfig maps the spec's Kubernetes configuration onto Options:
//
//	namespace        → Namespace (holds the shard ConfigMaps)
//	config_map_name  → Name (shards <config_map_name>-000 and up)
//	secret_name      → unused: the driver stores nothing sensitive and
//	                   never reads or writes Secrets (docs/kubernetes.md)
//	in_cluster       → InCluster (the pod's service account)
//	kubeconfig       → Kubeconfig (path; empty = $KUBECONFIG, ~/.kube/config)
//	shards           → Shards (default 256)
//	qps, burst       → QPS, Burst: client-go's client-side rate limit
//	request_timeout  → RequestTimeout (seconds; 0 = the default 30 s)
func OptionsFromConfig(c *config.KubernetesConfig) Options {
	return Options{
		Namespace:      c.Namespace,
		Name:           c.ConfigMapName,
		Shards:         c.Shards,
		InCluster:      c.InCluster,
		Kubeconfig:     c.Kubeconfig,
		QPS:            float32(c.QPS),
		Burst:          c.Burst,
		RequestTimeout: time.Duration(c.RequestTimeout) * time.Second,
	}
}

// restConfig returns the client configuration of o: o.RESTConfig, the
// pod's service account (InCluster) or a kubeconfig, with the rate limit,
// the request timeout, protobuf encoding and the user agent "orbit-server".
// The errors name the source, never a token.
func restConfig(o Options) (*rest.Config, error) {
	var cfg *rest.Config
	switch {
	case o.RESTConfig != nil:
		cfg = rest.CopyConfig(o.RESTConfig)
	case o.InCluster:
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: in_cluster: the service account configuration of the pod: %v: %w", err, driver.ErrInvalidArgument)
		}
		cfg = c
	default:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		where := "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
		if o.Kubeconfig != "" {
			rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}
			where = "kubeconfig " + o.Kubeconfig
		}
		c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: %s: %v: %w", where, err, driver.ErrInvalidArgument)
		}
		cfg = c
	}
	cfg.QPS = o.QPS
	cfg.Burst = o.Burst
	cfg.RateLimiter = nil
	if o.RequestTimeout > 0 {
		cfg.Timeout = o.RequestTimeout
	}
	cfg.UserAgent = UserAgent
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg, nil
}
