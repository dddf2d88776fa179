package web

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Session rows hold each person's Slurm token, their name and roles. They
// are sealed before they reach PostgreSQL, so that whoever reads the table
// (a backup, a database replica, a role granted SELECT for reports) holds
// nothing they can use, and cannot graft one person's row onto another
// session id either.
//
// A row is one version byte, a 12-byte random nonce, then the AES-256-GCM
// ciphertext and tag of the scs blob. The version byte and the session
// token are the additional data: a row opens only under the token it was
// written for. A fresh random nonce per write is safe for about 2^32
// writes under one key; a portal commits a row per request, so even at a
// sustained hundred requests a second that is more than a year, and a key
// rotation starts the count again.
const (
	sessionFormatV1   byte = 1
	sessionKeyBytes        = 32
	sessionNonceLen        = 12
	sessionKeyFileMax      = 4096 // a key file is 65 bytes; anything far longer is the wrong file
)

var (
	errSessionFormat = errors.New("not a sealed session row (written before rows were encrypted, or not by Tally)")
	errSessionKey    = errors.New("no session key opens the row (sealed with a key this server does not hold, or altered)")
)

// SessionKeys seal and open session rows. The first key seals; every key
// opens, so that rows written before a key rotation still read.
type SessionKeys struct {
	aeads []cipher.AEAD
}

// NewSessionKeys takes 32-byte AES-256 keys, the sealing key first.
func NewSessionKeys(keys ...[]byte) (*SessionKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("no session key")
	}
	k := &SessionKeys{}
	for i, key := range keys {
		if len(key) != sessionKeyBytes {
			return nil, fmt.Errorf("session key %d has %d bytes, want %d", i+1, len(key), sessionKeyBytes)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads = append(k.aeads, aead)
	}
	return k, nil
}

// NewEphemeralSessionKeys makes a random key that lives only in this
// process: its sessions end when the process does.
func NewEphemeralSessionKeys() (*SessionKeys, error) {
	key, err := GenerateSessionKey()
	if err != nil {
		return nil, err
	}
	return NewSessionKeys(key)
}

// LoadSessionKeys reads key files, the sealing key's first.
func LoadSessionKeys(paths ...string) (*SessionKeys, error) {
	var keys [][]byte
	for _, p := range paths {
		key, err := ReadSessionKeyFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return NewSessionKeys(keys...)
}

// GenerateSessionKey returns 32 random bytes.
func GenerateSessionKey() ([]byte, error) {
	key := make([]byte, sessionKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return key, nil
}

// ReadSessionKeyFile reads a key file: 64 hexadecimal characters (32
// bytes), surrounding white space ignored. Hex rather than raw bytes so
// that the key survives being pasted into a secret store or a
// configuration management template. The file must give its group and
// others no access at all: the key opens every session's Slurm token.
func ReadSessionKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// the file read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("session key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("session key %s has mode %04o: it must give its group and others no access (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, sessionKeyFileMax+1))
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	text := bytes.TrimSpace(b)
	key := make([]byte, sessionKeyBytes)
	if len(b) > sessionKeyFileMax || len(text) != hex.EncodedLen(sessionKeyBytes) {
		err = errors.New("wrong length")
	} else {
		_, err = hex.Decode(key, text)
	}
	if err != nil {
		// Neither the contents nor the decoder's message (which quotes a
		// byte) go into the error: the file may hold a real key in the
		// wrong shape, or another secret given by mistake.
		return nil, fmt.Errorf("session key %s: want 64 hexadecimal characters (32 random bytes), as `tally keygen` writes", path)
	}
	return key, nil
}

// WriteSessionKeyFile writes a new random key to path with mode 0600. It
// never replaces an existing file: overwriting a key in use signs everyone
// out.
func WriteSessionKeyFile(path string) error {
	key, err := GenerateSessionKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte(hex.EncodeToString(key) + "\n"))
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(path)
		return errors.Join(werr, cerr)
	}
	return nil
}

// additionalData binds a row to its format and its session token.
func sessionAD(token string) []byte {
	return append([]byte{sessionFormatV1}, token...)
}

func (k *SessionKeys) seal(token string, plain []byte) ([]byte, error) {
	aead := k.aeads[0]
	out := make([]byte, 1+sessionNonceLen, 1+sessionNonceLen+len(plain)+aead.Overhead())
	out[0] = sessionFormatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:], plain, sessionAD(token)), nil
}

func (k *SessionKeys) open(token string, row []byte) ([]byte, error) {
	if len(row) < 1+sessionNonceLen || row[0] != sessionFormatV1 {
		return nil, errSessionFormat
	}
	nonce, sealed := row[1:1+sessionNonceLen], row[1+sessionNonceLen:]
	ad := sessionAD(token)
	for _, aead := range k.aeads {
		if plain, err := aead.Open(nil, nonce, sealed, ad); err == nil {
			return plain, nil
		}
	}
	return nil, errSessionKey
}

// String, GoString and LogValue keep the keys out of any message that
// prints them.
func (k *SessionKeys) String() string { return "[session keys redacted]" }

// GoString implements fmt.GoStringer.
func (k *SessionKeys) GoString() string { return k.String() }

// LogValue implements slog.LogValuer.
func (k *SessionKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }
