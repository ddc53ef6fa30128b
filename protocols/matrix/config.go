//go:build goolm

package matrix

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/config"
)

// Config is a Matrix account's own keys in the owlgate config (every key of
// the account but id, network and idle_timeout). examples/README.md lists
// them; examples/collaboration.yaml shows them.
type Config struct {
	// Homeserver is the base URL of the account's homeserver's client API,
	// like "https://matrix.example.edu". Required.
	Homeserver string `yaml:"homeserver"`
	// UserID is the library's Matrix account, like
	// "@askalibrarian:example.edu". Required.
	UserID string `yaml:"user_id"`
	// AccessToken logs in with an access token (of a device made for
	// owlgate), as a secret reference. One of AccessToken and Password is
	// required.
	AccessToken config.Secret `yaml:"access_token"`
	// Password logs in with the account's password, as a secret
	// reference. The device id and access token the first login gets are
	// kept in the account's data folder and used again.
	Password config.Secret `yaml:"password"`
	// DeviceName is the name of the device a password login makes, shown
	// to patrons in their client's list of the library's devices. Default
	// "owlgate".
	DeviceName string `yaml:"device_name"`
	// InvitesFrom lists the homeservers (server names, like "matrix.org")
	// whose users may open a chat by inviting the account. Default: any.
	InvitesFrom []string `yaml:"invites_from"`
	// Rooms lists group rooms (by room id, "!abc:example.edu") where every
	// member's messages are patrons' messages; the account must be in them
	// or invited. Other group rooms are ignored. Default none.
	Rooms []string `yaml:"rooms"`
	// PublicURL is where operators reach owlgate's HTTP server
	// (http.listen), like "https://chat.library.example.edu": files
	// patrons send become links to PublicURL + "/hooks/<account
	// id>/media/...", which owlgate serves from the homeserver's
	// authenticated media (decrypting files of encrypted rooms). Without
	// it, a file is a link to the homeserver's public media URL, which
	// homeservers with authenticated media refuse, and files of encrypted
	// rooms are only named.
	PublicURL string `yaml:"public_url"`
}

// DefaultDeviceName is the device name of password logins.
const DefaultDeviceName = "owlgate"

// settings is a validated Config with its defaults applied.
type settings struct {
	homeserver  string // without a trailing slash
	userID      id.UserID
	accessToken string
	password    string
	deviceName  string
	invitesFrom map[string]bool // empty: any
	rooms       map[id.RoomID]bool
	publicURL   string // without a trailing slash; "" for none
}

// validate checks c and returns its settings. Its errors name the key at
// fault and never hold a secret's value.
func (c *Config) validate() (*settings, error) {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, key+": "+fmt.Sprintf(format, args...))
	}
	s := &settings{
		deviceName:  c.DeviceName,
		invitesFrom: map[string]bool{},
		rooms:       map[id.RoomID]bool{},
	}
	if c.Homeserver == "" {
		bad("homeserver", "is required (write homeserver: https://matrix.example.edu)")
	} else if u, err := baseURL(c.Homeserver); err != nil {
		bad("homeserver", "%v (write homeserver: https://matrix.example.edu)", err)
	} else {
		s.homeserver = u
	}
	if c.UserID == "" {
		bad("user_id", "is required (write user_id: \"@askalibrarian:example.edu\"; quote it, @ starts no YAML value)")
	} else if _, _, err := id.UserID(c.UserID).ParseAndValidateRelaxed(); err != nil {
		bad("user_id", "%q is not a Matrix user id like @askalibrarian:example.edu", c.UserID)
	} else {
		s.userID = id.UserID(c.UserID)
	}
	switch {
	case c.AccessToken.IsSet() && c.Password.IsSet():
		bad("access_token", "give access_token or password, not both")
	case c.AccessToken.IsSet():
		s.accessToken = c.AccessToken.Value()
	case c.Password.IsSet():
		s.password = c.Password.Value()
	default:
		bad("access_token", "one of access_token and password is required (write password: ${UNC_MATRIX_PASSWORD})")
	}
	if s.deviceName == "" {
		s.deviceName = DefaultDeviceName
	}
	for i, hs := range c.InvitesFrom {
		if hs == "" || strings.ContainsAny(hs, "/@ \t") {
			bad(fmt.Sprintf("invites_from[%d]", i), "%q is not a homeserver name like matrix.org", hs)
			continue
		}
		s.invitesFrom[strings.ToLower(hs)] = true
	}
	for i, r := range c.Rooms {
		if !strings.HasPrefix(r, "!") || !strings.Contains(r, ":") {
			bad(fmt.Sprintf("rooms[%d]", i), "%q is not a room id like \"!abcdef:example.edu\" (room aliases are not taken)", r)
			continue
		}
		s.rooms[id.RoomID(r)] = true
	}
	if c.PublicURL != "" {
		u, err := baseURL(c.PublicURL)
		if err != nil {
			bad("public_url", "%v (write public_url: https://chat.library.example.edu)", err)
		}
		s.publicURL = u
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return s, nil
}

// baseURL checks an http(s) URL with a host and no query, and returns it
// without its trailing slash.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http or https URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q may not have a query, a fragment or a user", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
