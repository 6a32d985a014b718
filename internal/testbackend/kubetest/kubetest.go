// Package kubetest starts a real kube-apiserver for tests, over a real etcd
// (.tools/bin/etcd as a child process, else embedded etcdtest): no fake
// clientset ever stands in for the API server.
//
// Start finds the kube-apiserver program (on PATH, else
// .tools/bin/kube-apiserver in the repository root, where
// ./scripts/install-test-backends.sh builds it), generates the
// service-account signing key pair and a token file with an administrator
// (group system:masters), starts the server on a free loopback port with
// its certificates in a t.TempDir(), waits for /readyz, and stops it at
// cleanup (SIGTERM to its own PID, then SIGKILL). It builds nothing: when the
// program is missing it skips the test, or fails it when
// ORBIT_REQUIRE_BACKENDS=1 (testbackend.Require).
//
// WithRBAC runs the server with --authorization-mode=RBAC; otherwise every
// authenticated request is allowed (AlwaysAllow). Service-account tokens
// (Server.ServiceAccountToken) are real tokens signed by the server.
//
// Import this package from _test.go files only: it links an etcd server.
package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/internal/testbackend/proc"
)

const (
	// InstallHint is the install step named when kube-apiserver is missing.
	InstallHint = "./scripts/install-test-backends.sh"
	// toolsBin is where InstallHint builds kube-apiserver, relative to the
	// repository root.
	toolsBin = ".tools/bin/kube-apiserver"
	// toolsEtcd is where InstallHint builds etcd.
	toolsEtcd = ".tools/bin/etcd"
	// readyTimeout bounds how long the server may take to be ready.
	readyTimeout = 90 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 15 * time.Second
)

// Option configures Start.
type Option func(*Server)

// WithRBAC runs the API server with --authorization-mode=RBAC (the
// default roles are bootstrapped; an identity may do only what its roles
// grant). Without it, --authorization-mode=AlwaysAllow.
func WithRBAC() Option { return func(s *Server) { s.rbac = true } }

// Server is a running kube-apiserver with its etcd.
type Server struct {
	// URL is the https:// address of the API server.
	URL string
	// AdminToken authenticates the administrator (group system:masters).
	AdminToken string
	// Dir holds the keys, token file, certificates and LogFile.
	Dir     string
	LogFile string

	rbac   bool
	caData []byte
	child  proc.Child
}

// Bin returns the path of kube-apiserver: on PATH if there is one, else
// .tools/bin/kube-apiserver in the repository root. When neither exists
// it skips the test, or fails it when ORBIT_REQUIRE_BACKENDS=1, and does
// not return.
func Bin(t testing.TB) string {
	t.Helper()
	p, where := testbackend.FindTool("kube-apiserver", toolsBin)
	if p != "" {
		return p
	}
	return testbackend.Require(t, "kube-apiserver", InstallHint+" (it builds "+where+", which kubetest looks for after PATH)")
}

// Start starts etcd and a kube-apiserver for the test and returns once
// /readyz answers ok; both stop at cleanup. It fails the test when the
// server does not become ready within 90 s, with the end of its log.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := Bin(t)
	dir := t.TempDir()
	s := &Server{Dir: dir, LogFile: filepath.Join(dir, "kube-apiserver.log"), AdminToken: testbackend.RandomHex(t, 16)}
	for _, o := range opts {
		o(s)
	}
	s.child.LogFile = s.LogFile
	etcdURL := s.startEtcd(t)
	if err := s.writeFiles(); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(func() {
		s.child.Stop(t, "kubetest: kube-apiserver "+s.URL, syscall.SIGTERM, stopTimeout)
		if t.Failed() && !s.child.LogShown() {
			t.Logf("kubetest: kube-apiserver log (%s), last lines:\n%s", s.LogFile, s.child.LogTail(30))
		}
	})
	// A port found free may be taken before the server binds it: start
	// again on a new port (at most three times).
	for attempt := 1; ; attempt++ {
		port := testbackend.FreePorts(t, 1)[0]
		s.URL = "https://127.0.0.1:" + strconv.Itoa(port)
		err := s.launch(bin, port, etcdURL)
		if err == nil {
			break
		}
		s.child.Stop(t, "kubetest: kube-apiserver", syscall.SIGKILL, stopTimeout)
		if attempt == 3 || !strings.Contains(s.child.Log(), "address already in use") {
			s.child.SetLogShown()
			t.Fatalf("kubetest: start kube-apiserver: %v\nlog (%s), last lines:\n%s", err, s.LogFile, s.child.LogTail(30))
		}
	}
	return s
}

// writeFiles writes the service-account key pair and the token file.
func (s *Server) writeFiles() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(s.AdminToken + `,admin,admin-uid,"system:masters"` + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return os.Mkdir(filepath.Join(s.Dir, "certs"), 0o700)
}

func (s *Server) args(port int, etcdURL string) []string {
	authz := "AlwaysAllow"
	if s.rbac {
		authz = "RBAC"
	}
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(s.Dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(s.Dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(s.Dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=" + authz,
		"--token-auth-file=" + filepath.Join(s.Dir, "tokens.csv"),
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none",
	}
}

// launch starts the process and waits until /readyz answers ok.
func (s *Server) launch(bin string, port int, etcdURL string) error {
	p, err := s.child.Start(bin, s.args(port, etcdURL), s.Dir, nil)
	if err != nil {
		return err
	}
	return p.WaitReady(readyTimeout, 100*time.Millisecond, s.ready)
}

// ready reports whether /readyz answers 200 to the administrator; it also
// loads the server's self-signed certificate once it exists.
func (s *Server) ready() error {
	if s.caData == nil {
		b, err := os.ReadFile(filepath.Join(s.Dir, "certs", "apiserver.crt"))
		if err != nil {
			return err
		}
		s.caData = b
	}
	rc, err := rest.TransportFor(s.AdminConfig())
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: rc, Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

// startEtcd starts etcd for the API server and returns its client URL:
// .tools/bin/etcd (built by InstallHint) as a child process when it exists,
// so that the API server's storage does not run inside the test binary
// (which the race detector slows several times), else embedded etcd.
func (s *Server) startEtcd(t testing.TB) string {
	t.Helper()
	root, err := testbackend.RepoRoot()
	bin := filepath.Join(root, toolsEtcd)
	if fi, statErr := os.Stat(bin); err != nil || statErr != nil || fi.Mode()&0o111 == 0 {
		return etcdtest.Start(t).Endpoints()[0]
	}
	dir := filepath.Join(s.Dir, "etcd")
	child := &proc.Child{LogFile: filepath.Join(s.Dir, "etcd.log")}
	t.Cleanup(func() { child.Stop(t, "kubetest: etcd", syscall.SIGTERM, stopTimeout) })
	for attempt := 1; ; attempt++ {
		ports := testbackend.FreePorts(t, 2)
		client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		p, err := child.Start(bin, []string{"--name=default", "--data-dir=" + dir, "--listen-client-urls=" + client,
			"--advertise-client-urls=" + client, "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=default=" + peer, "--log-level=warn", "--unsafe-no-fsync"}, s.Dir, nil)
		if err == nil {
			hc := &http.Client{Timeout: time.Second}
			err = p.WaitReady(readyTimeout, 50*time.Millisecond, func() error {
				resp, err := hc.Get(client + "/health")
				if err != nil {
					return err
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("etcd /health: %s", resp.Status)
				}
				return nil
			})
		}
		if err == nil {
			return client
		}
		child.Stop(t, "kubetest: etcd", syscall.SIGKILL, stopTimeout)
		if attempt == 3 || !strings.Contains(child.Log(), "address already in use") {
			t.Fatalf("kubetest: start etcd: %v\nlog:\n%s", err, child.LogTail(20))
		}
		_ = os.RemoveAll(dir)
	}
}

// ConfigFor returns a client configuration that authenticates with token
// and trusts the server's certificate.
func (s *Server) ConfigFor(token string) *rest.Config {
	return &rest.Config{Host: s.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: s.caData},
		QPS: 1000, Burst: 1000}
}

// AdminConfig returns the administrator's client configuration.
func (s *Server) AdminConfig() *rest.Config { return s.ConfigFor(s.AdminToken) }

// Client returns a clientset of the administrator.
func (s *Server) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.AdminConfig())
	if err != nil {
		t.Fatalf("kubetest: client: %v", err)
	}
	return c
}

// Namespace creates a namespace named prefix plus a random suffix and
// returns its name.
func (s *Server) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + testbackend.RandomHex(t, 3)}}
	if _, err := s.Client(t).CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: create namespace: %v", err)
	}
	return ns.Name
}

// ServiceAccountToken creates the service account name in namespace ns
// unless it exists, and returns a token of it (TokenRequest, valid one
// hour), signed by the server like a pod's projected token.
func (s *Server) ServiceAccountToken(t testing.TB, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	c := s.Client(t)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("kubetest: create service account: %v", err)
	}
	hour := int64(3600)
	tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: token request: %v", err)
	}
	return tr.Status.Token
}

// Kubeconfig writes a kubeconfig file that reaches the server with token
// and returns its path.
func (s *Server) Kubeconfig(t testing.TB, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.caData}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "user"}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("kubetest: write kubeconfig: %v", err)
	}
	return path
}
