package daemon

import (
	"fmt"
	"log/slog"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
	"github.com/owlgate/owlgate/xmpp"
	"github.com/owlgate/owlgate/xmpp/component"
	"github.com/owlgate/owlgate/xmpp/server"
)

// newLink builds the operator link the config asks for: the embedded XMPP
// server, or the XEP-0114 component, under the service that maps its
// stanzas to the routing engine. The service runs the transport through
// watch, which notes whether it is up.
func newLink(cfg *config.Config, rc routing.Config, st *store.SQLite, watch *linkWatch, log *slog.Logger, version string) (*xmpp.Service, xmpp.Transport, error) {
	domain, err := jid.Parse(cfg.XMPP.Domain)
	if err != nil {
		return nil, nil, fmt.Errorf("xmpp.domain %q: %w", cfg.XMPP.Domain, err)
	}
	var (
		transport xmpp.Transport
		directory lateDirectory
	)
	switch cfg.XMPP.Mode {
	case config.ModeComponent:
		transport, err = component.New(component.Config{
			Domain:    domain,
			Addr:      cfg.XMPP.Connect,
			Secret:    cfg.XMPP.Secret.Value(),
			MaxStanza: cfg.XMPP.MaxStanza,
			Log:       log.With("xmpp", "component"),
		})
	default:
		users := make(map[string]string, len(cfg.Operators))
		for _, o := range cfg.Operators {
			users[o.JID] = o.Password.Value()
		}
		transport, err = server.New(server.Config{
			Domain:         domain,
			Listen:         cfg.XMPP.Listen,
			CertFile:       cfg.XMPP.TLS.Cert,
			KeyFile:        cfg.XMPP.TLS.Key,
			DataDir:        cfg.DataDir,
			AllowPlaintext: cfg.XMPP.AllowPlaintext,
			MaxStanza:      cfg.XMPP.MaxStanza,
			Users:          users,
			Directory:      &directory,
			Offline:        st,
			Log:            log.With("xmpp", "server"),
			Version:        version,
		})
	}
	if err != nil {
		return nil, nil, err
	}
	watch.Transport = transport
	svc, err := xmpp.NewService(xmpp.ServiceConfig{
		Domain:  domain,
		Routing: rc,
		Log:     log,
		Version: version,
	}, watch)
	if err != nil {
		return nil, nil, err
	}
	directory.Directory = svc
	return svc, transport, nil
}

// lateDirectory is the embedded server's directory, set to the service
// once it exists: the server is built first because the service needs its
// transport.
type lateDirectory struct{ xmpp.Directory }
