package sms

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// stateFile is the file, in the account's DataDir, that keeps which numbers
// opted out (texted STOP) and when each was last sent the offline message.
// It holds phone numbers: it is written 0600 in owlgate's data_dir (0700).
const stateFile = "sms-patrons.json"

// patrons is what the account must remember of its patrons' numbers across
// restarts. Opt-outs are written to disk (and synced) before the STOP that
// caused them is acknowledged; the offline message's times are written
// along, since they are few. With no DataDir it lives in memory only. It is
// safe for concurrent use.
type patrons struct {
	path string // "" keeps it in memory

	mu     sync.Mutex
	loaded bool
	state  patronsFile
}

type patronsFile struct {
	OptedOut    map[string]time.Time `json:"opted_out"`    // number → when it texted STOP
	OfflineSent map[string]time.Time `json:"offline_sent"` // number → when it was last sent the offline message
}

func newPatrons(dataDir string) *patrons {
	p := &patrons{state: patronsFile{OptedOut: map[string]time.Time{}, OfflineSent: map[string]time.Time{}}}
	if dataDir != "" {
		p.path = filepath.Join(dataDir, stateFile)
	}
	return p
}

// load reads the file the first time it is called successfully. A file
// that cannot be read is an error: owlgate must not text numbers that
// opted out because it forgot them.
func (p *patrons) load() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded || p.path == "" {
		p.loaded = true
		return nil
	}
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		p.loaded = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	var f patronsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("sms: %s is damaged (%v); it lists the numbers that texted STOP: repair it, or remove it to forget them", p.path, err)
	}
	if f.OptedOut != nil {
		p.state.OptedOut = f.OptedOut
	}
	if f.OfflineSent != nil {
		p.state.OfflineSent = f.OfflineSent
	}
	p.loaded = true
	return nil
}

// optedOut reports whether number texted STOP and not START since.
func (p *patrons) optedOut(number string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.state.OptedOut[number]
	return ok
}

// setOptedOut records that number opted out (or back in) and writes it
// down. It reports whether that changed anything. On a write error the
// change is kept in memory all the same.
func (p *patrons) setOptedOut(number string, out bool, now time.Time) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, was := p.state.OptedOut[number]
	if was == out {
		return false, nil
	}
	if out {
		p.state.OptedOut[number] = now
	} else {
		delete(p.state.OptedOut, number)
	}
	return true, p.saveLocked()
}

// offlineSince reports whether number was sent the offline message within
// every before now.
func (p *patrons) offlineSince(number string, now time.Time, every time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.state.OfflineSent[number]
	return ok && now.Sub(at) < every
}

// offlineSent records that number was sent the offline message now,
// forgets the times older than every, and writes it down.
func (p *patrons) offlineSent(number string, now time.Time, every time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, at := range p.state.OfflineSent {
		if now.Sub(at) >= every {
			delete(p.state.OfflineSent, n)
		}
	}
	p.state.OfflineSent[number] = now
	return p.saveLocked()
}

// saveLocked writes the file atomically: a temporary file, synced, renamed
// over the old one, and the folder synced.
func (p *patrons) saveLocked() error {
	if p.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(p.state, "", "  ")
	if err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), stateFile+".*")
	if err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("sms: writing %s: %w", p.path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sms: writing %s: %w", p.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sms: writing %s: %w", p.path, err)
	}
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(p.path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}
