package etcd

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/orbit-go/orbit/persistence/driver"
)

// endpointCredentials takes user:password out of endpoint URLs. etcd never
// authenticates with a URL's userinfo: its client would only carry the
// password into gRPC targets and its logs. A password given there becomes
// the etcd auth password (as if set in Options), so that an operator who
// wrote http://root:secret@host:2379 gets what was meant and the client
// never sees the secret in an address. Endpoints that disagree with each
// other or with the username and password already set are an error naming
// the endpoint by index; no message contains a password.
func endpointCredentials(eps []string, user, pass string) (clean []string, u, p string, err error) {
	clean = make([]string, len(eps))
	u, p = user, pass
	fromURL := false
	for i, e := range eps {
		clean[i] = e
		if !strings.Contains(e, "://") || !strings.Contains(e, "@") {
			continue
		}
		parsed, perr := url.Parse(e)
		if perr != nil || parsed.User == nil {
			continue // validation reports malformed endpoints; Open passes them on
		}
		eu := parsed.User.Username()
		ep, _ := parsed.User.Password()
		parsed.User = nil
		clean[i] = parsed.String()
		switch {
		case !fromURL && user == "" && pass == "":
			u, p, fromURL = eu, ep, true
		case eu != u || ep != p:
			return nil, "", "", fmt.Errorf("etcd: endpoints[%d] (%s): the credentials in its URL differ from the username and password set elsewhere; set them once, in username and password: %w",
				i, clean[i], driver.ErrInvalidArgument)
		}
	}
	return clean, u, p, nil
}
