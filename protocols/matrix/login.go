//go:build goolm

package matrix

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/id"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go, for the crypto store

	"github.com/owlgate/owlgate/protocols"
)

// savedLogin is what a password login keeps in session.json in the data
// folder: the device, so that every start is the same device (with the same
// encryption keys), and its access token, so that a start does not log in
// again.
type savedLogin struct {
	UserID      id.UserID   `json:"user_id"`
	DeviceID    id.DeviceID `json:"device_id"`
	AccessToken string      `json:"access_token"`
}

// login returns a client logged in as the account: with the configured
// access token, or with the saved or a new password login.
func (a *Adapter) login(ctx context.Context) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(a.s.homeserver, a.s.userID, a.s.accessToken)
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	cli.Log = zerolog.Nop()
	if a.log.Enabled(ctx, slog.LevelDebug) {
		cli.Log = zerolog.New(zerologToSlog{a.log}).Level(zerolog.DebugLevel)
	}
	cli.DefaultHTTPRetries = 1
	if a.s.accessToken != "" {
		who, err := cli.Whoami(ctx)
		if err != nil {
			return nil, credentialError("checking the access token", err)
		}
		if who.UserID != a.s.userID {
			return nil, fmt.Errorf("matrix: the access token is of another user than user_id: %w", protocols.ErrBadCredentials)
		}
		cli.DeviceID = who.DeviceID
		return cli, nil
	}
	path := filepath.Join(a.dataDir, "session.json")
	var saved savedLogin
	if err := readJSON(path, &saved); err != nil {
		return nil, fmt.Errorf("matrix: reading %s: %w", path, err)
	}
	if saved.UserID == a.s.userID && saved.AccessToken != "" {
		cli.AccessToken = saved.AccessToken
		who, err := cli.Whoami(ctx)
		switch {
		case err == nil && who.UserID == a.s.userID && who.DeviceID == saved.DeviceID:
			cli.DeviceID = saved.DeviceID
			return cli, nil
		case err == nil, errors.Is(err, mautrix.MUnknownToken):
			a.log.Info("matrix: the saved login is no longer valid; logging in again")
		default:
			return nil, fmt.Errorf("matrix: checking the saved login: %w", err)
		}
		cli.AccessToken = ""
	}
	if saved.UserID != a.s.userID {
		saved = savedLogin{}
	}
	resp, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(a.s.userID)},
		Password:                 a.s.password,
		DeviceID:                 saved.DeviceID,
		InitialDeviceDisplayName: a.s.deviceName,
		StoreCredentials:         true,
	})
	if err != nil {
		return nil, credentialError("logging in", err)
	}
	if resp.UserID != a.s.userID {
		return nil, fmt.Errorf("matrix: the homeserver logged us in as another user than user_id: %w", protocols.ErrBadCredentials)
	}
	saved = savedLogin{UserID: resp.UserID, DeviceID: resp.DeviceID, AccessToken: resp.AccessToken}
	if err := writeJSON(path, &saved); err != nil {
		return nil, fmt.Errorf("matrix: writing %s: %w", path, err)
	}
	a.log.Info("matrix: logged in with the password", "device", string(resp.DeviceID))
	return cli, nil
}

// credentialError classifies an error of a login or whoami: the homeserver
// refusing the credentials is bad credentials, anything else may pass.
func credentialError(what string, err error) error {
	if errors.Is(err, mautrix.MUnknownToken) || errors.Is(err, mautrix.MForbidden) || errors.Is(err, mautrix.MUserDeactivated) {
		return fmt.Errorf("matrix: %s: %w (%v)", what, protocols.ErrBadCredentials, errorCode(err))
	}
	return fmt.Errorf("matrix: %s: %w", what, err)
}

// errorCode is the Matrix error code of err, like M_FORBIDDEN, or its text.
func errorCode(err error) string {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.RespError != nil {
		return he.RespError.ErrCode
	}
	return err.Error()
}

// openCrypto sets up end-to-end encryption for cli: the olm account of its
// device, megolm sessions and the room state it needs in crypto.db in the
// data folder (pure-Go SQLite), encrypted at rest with the pickle key in
// pickle.key. The store also holds the sync token.
func (a *Adapter) openCrypto(ctx context.Context, cli *mautrix.Client) (*cryptohelper.CryptoHelper, error) {
	key, err := a.pickleKey()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(a.dataDir, "crypto.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("matrix: opening %s: %w", path, err)
	}
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("matrix: opening %s: %w", path, err)
	}
	helper, err := cryptohelper.NewCryptoHelper(cli, key, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("matrix: encryption: %w", err)
	}
	// One olm account per device in the store: a new access token (of a
	// new device) starts afresh instead of failing on the old device's.
	helper.DBAccountID = string(cli.UserID) + "/" + string(cli.DeviceID)
	if err := helper.Init(ctx); err != nil {
		db.Close()
		if strings.Contains(err.Error(), "there are keys on the server") {
			return nil, fmt.Errorf("matrix: the device of the access token already has encryption keys of another client; make a device for owlgate alone: %w", protocols.ErrBadCredentials)
		}
		return nil, fmt.Errorf("matrix: encryption: %w", err)
	}
	return helper, nil
}

// pickleKey returns the key the crypto store is encrypted with, made at the
// first start and kept in pickle.key in the data folder.
func (a *Adapter) pickleKey() ([]byte, error) {
	path := filepath.Join(a.dataDir, "pickle.key")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("matrix: reading %s: %w", path, err)
	}
	k := make([]byte, 32)
	rand.Read(k)
	key := hex.EncodeToString(k)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("matrix: writing %s: %w", path, err)
	}
	return []byte(key), nil
}

// zerologToSlog passes mautrix's logs (zerolog, JSON lines) to the
// account's logger at debug level: they name rooms and users.
type zerologToSlog struct{ log *slog.Logger }

func (w zerologToSlog) Write(p []byte) (int, error) {
	w.log.Debug("matrix: mautrix", "log", strings.TrimSpace(string(p)))
	return len(p), nil
}
