package consumer

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// scramMechanism is the client side of SCRAM-SHA-256 and SCRAM-SHA-512
// (RFC 5802, RFC 7677) as Kafka speaks it: no channel binding, no
// extensions, the password used as given (Kafka's Java client does not apply
// SASLprep either). It is built on the standard library's HMAC and PBKDF2;
// kafka-go's sasl/scram package would pull in three more modules for the
// same hundred lines. A scramMechanism is safe for concurrent use: every
// connection gets its own session.
type scramMechanism struct {
	name     string // "SCRAM-SHA-256" or "SCRAM-SHA-512"
	hash     func() hash.Hash
	username string
	password string
	// nonce returns the client nonce; nil means 24 random bytes, base64.
	nonce func() (string, error)
}

// newScram returns the mechanism for mechanism (SASLScramSHA256 or
// SASLScramSHA512).
func newScram(mechanism, username, password string) *scramMechanism {
	m := &scramMechanism{name: "SCRAM-SHA-256", hash: sha256.New, username: username, password: password}
	if mechanism == SASLScramSHA512 {
		m.name, m.hash = "SCRAM-SHA-512", sha512.New
	}
	return m
}

// Name implements sasl.Mechanism.
func (m *scramMechanism) Name() string { return m.name }

// String names the mechanism and user, never the password.
func (m *scramMechanism) String() string { return m.name + " as " + m.username }

// GoString keeps the password out of %#v output as well.
func (m *scramMechanism) GoString() string { return m.String() }

// Start implements sasl.Mechanism: it sends the client-first message.
func (m *scramMechanism) Start(context.Context) (sasl.StateMachine, []byte, error) {
	newNonce := m.nonce
	if newNonce == nil {
		newNonce = randomNonce
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, nil, fmt.Errorf("scram: nonce: %w", err)
	}
	bare := "n=" + scramEscape(m.username) + ",r=" + nonce
	return &scramSession{m: m, nonce: nonce, clientFirstBare: bare}, []byte("n,," + bare), nil
}

// randomNonce returns 24 random bytes in base64, which holds no comma.
func randomNonce() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// scramEscape encodes a SCRAM saslname: "=" as "=3D" and "," as "=2C".
func scramEscape(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// maxScramIterations bounds the work a broker can ask of the client.
const maxScramIterations = 1 << 20

// scramSession is one authentication exchange.
type scramSession struct {
	m               *scramMechanism
	nonce           string
	clientFirstBare string
	serverSignature []byte
	step            int
}

// Next implements sasl.StateMachine: the first challenge is the
// server-first message, answered with the client proof; the second is the
// server-final message, whose signature proves that the broker knows the
// credentials too.
func (s *scramSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	s.step++
	switch s.step {
	case 1:
		resp, err := s.clientFinal(string(challenge))
		return false, resp, err
	case 2:
		return true, nil, s.verifyServer(string(challenge))
	}
	return false, nil, errors.New("scram: unexpected challenge after the exchange completed")
}

// clientFinal answers the server-first message.
func (s *scramSession) clientFinal(serverFirst string) ([]byte, error) {
	attrs, err := scramAttrs(serverFirst)
	if err != nil {
		return nil, err
	}
	if _, ok := attrs['m']; ok {
		return nil, errors.New("scram: the broker asks for an unsupported extension")
	}
	nonce := attrs['r']
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return nil, errors.New("scram: the broker's nonce does not extend the client's")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs['s'])
	if err != nil || len(salt) == 0 {
		return nil, errors.New("scram: the broker sent no valid salt")
	}
	iter, err := strconv.Atoi(attrs['i'])
	if err != nil || iter < 1 || iter > maxScramIterations {
		return nil, fmt.Errorf("scram: iteration count %q is not in [1, %d]", attrs['i'], maxScramIterations)
	}

	h := s.m.hash
	salted, err := pbkdf2.Key(h, s.m.password, salt, iter, h().Size())
	if err != nil {
		return nil, fmt.Errorf("scram: derive key: %w", err)
	}
	clientKey := scramHMAC(h, salted, "Client Key")
	storedKey := h()
	storedKey.Write(clientKey)
	withoutProof := "c=biws,r=" + nonce // biws is base64("n,,"): no channel binding
	authMessage := s.clientFirstBare + "," + serverFirst + "," + withoutProof
	proof := scramHMAC(h, storedKey.Sum(nil), authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverSignature = scramHMAC(h, scramHMAC(h, salted, "Server Key"), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verifyServer checks the server-final message.
func (s *scramSession) verifyServer(serverFinal string) error {
	attrs, err := scramAttrs(serverFinal)
	if err != nil {
		return err
	}
	if e, ok := attrs['e']; ok {
		return fmt.Errorf("scram: the broker refused the credentials: %s", e)
	}
	sig, err := base64.StdEncoding.DecodeString(attrs['v'])
	if err != nil || !hmac.Equal(sig, s.serverSignature) {
		return errors.New("scram: the broker's signature does not match: it does not know the credentials")
	}
	return nil
}

// scramHMAC returns HMAC(key, msg) with hash h.
func scramHMAC(h func() hash.Hash, key []byte, msg string) []byte {
	mac := hmac.New(h, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// scramAttrs splits a SCRAM message into its single-letter attributes.
func scramAttrs(msg string) (map[byte]string, error) {
	attrs := map[byte]string{}
	for _, part := range strings.Split(msg, ",") {
		if len(part) < 2 || part[1] != '=' {
			return nil, errors.New("scram: malformed message from the broker")
		}
		attrs[part[0]] = part[2:]
	}
	return attrs, nil
}

// compile-time check that the mechanism fits kafka-go.
var _ sasl.Mechanism = (*scramMechanism)(nil)
