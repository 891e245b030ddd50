package pkcs11

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// keyRef names a wrapping key as a blob records it.
type keyRef struct {
	mech      wrapMech
	label, id string // raw bytes; "" when not set
}

// String describes r for messages and logs.
func (r keyRef) String() string {
	switch {
	case r.id == "":
		return fmt.Sprintf("label %q", r.label)
	case r.label == "":
		return fmt.Sprintf("id %x", r.id)
	}
	return fmt.Sprintf("label %q id %x", r.label, r.id)
}

// template is the search template for r's objects of class (and key type).
func (r keyRef) template(class uint, keyType uint) []*p11.Attribute {
	t := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, class),
		p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
	}
	return append(t, r.nameAttrs()...)
}

// nameAttrs are r's label and id attributes, those that are set.
func (r keyRef) nameAttrs() []*p11.Attribute {
	var t []*p11.Attribute
	if r.label != "" {
		t = append(t, p11.NewAttribute(p11.CKA_LABEL, r.label))
	}
	if r.id != "" {
		t = append(t, p11.NewAttribute(p11.CKA_ID, []byte(r.id)))
	}
	return t
}

// keyHandles are the objects of one wrapping key in a session generation.
type keyHandles struct {
	encrypt p11.ObjectHandle // the AES key, or the RSA public key (0: none)
	decrypt p11.ObjectHandle // the AES key, or the RSA private key
	modLen  int              // RSA modulus length in bytes
	gen     uint64
}

// maxCachedKeys bounds keyCache (a token holds few wrapping keys).
const maxCachedKeys = 64

// keyCache remembers key handles per session generation: a reset (which
// may follow a token being reinserted) forgets them.
type keyCache struct {
	mu sync.Mutex
	m  map[keyRef]keyHandles
}

func (c *keyCache) get(r keyRef, gen uint64) (keyHandles, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.m[r]
	return k, ok && k.gen == gen
}

func (c *keyCache) put(r keyRef, k keyHandles) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[keyRef]keyHandles)
	}
	c.m[r] = k
}

func (c *keyCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

// keyFor returns r's handles in sess, from the cache or the token.
func (s *Seal) keyFor(sess session, r keyRef) (keyHandles, error) {
	if k, ok := s.keys.get(r, sess.gen); ok {
		return k, nil
	}
	k, err := s.lookup(sess.h, r)
	if err != nil {
		return keyHandles{}, err
	}
	k.gen = sess.gen
	s.keys.put(r, k)
	return k, nil
}

// lookup finds r's objects in the token: the AES secret key, or the RSA
// private key (and its public key, when present). Errors wrap
// ErrKeyNotFound when absent or ambiguous.
func (s *Seal) lookup(h p11.SessionHandle, r keyRef) (keyHandles, error) {
	if !r.mech.isRSA() {
		k, err := s.findOne(h, r.template(p11.CKO_SECRET_KEY, p11.CKK_AES), r, "AES key")
		return keyHandles{encrypt: k, decrypt: k}, err
	}
	priv, err := s.findOne(h, r.template(p11.CKO_PRIVATE_KEY, p11.CKK_RSA), r, "RSA private key")
	if err != nil {
		return keyHandles{}, err
	}
	k := keyHandles{decrypt: priv}
	attrs, err := s.mod.ctx.GetAttributeValue(h, priv, []*p11.Attribute{p11.NewAttribute(p11.CKA_MODULUS, nil)})
	if err != nil {
		return keyHandles{}, fmt.Errorf("RSA private key %s: modulus: %w", r, err)
	}
	k.modLen = len(attrs[0].Value)
	pubs, err := s.find(h, r.template(p11.CKO_PUBLIC_KEY, p11.CKK_RSA), 2)
	if err != nil {
		return keyHandles{}, err
	}
	switch len(pubs) {
	case 1:
		k.encrypt = pubs[0]
	case 2:
		return keyHandles{}, fmt.Errorf("%w: RSA public key with %s in token %s: %w", ErrKeyNotFound, r, s.token, errAmbiguous)
	}
	return k, nil
}

// findOne finds the single object matching tmpl.
func (s *Seal) findOne(h p11.SessionHandle, tmpl []*p11.Attribute, r keyRef, what string) (p11.ObjectHandle, error) {
	objs, err := s.find(h, tmpl, 2)
	if err != nil {
		return 0, err
	}
	switch len(objs) {
	case 0:
		return 0, fmt.Errorf("%w: no %s with %s in token %s", ErrKeyNotFound, what, r, s.token)
	case 1:
		return objs[0], nil
	}
	return 0, fmt.Errorf("%w: %s with %s in token %s: %w", ErrKeyNotFound, what, r, s.token, errAmbiguous)
}

// find returns up to max objects matching tmpl. Finding nothing in a
// session that is no longer logged in (private objects are invisible
// then) is reported as CKR_USER_NOT_LOGGED_IN, so the caller logs in again.
func (s *Seal) find(h p11.SessionHandle, tmpl []*p11.Attribute, max int) ([]p11.ObjectHandle, error) {
	ctx := s.mod.ctx
	if err := ctx.FindObjectsInit(h, tmpl); err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	objs, _, err := ctx.FindObjects(h, max)
	ferr := ctx.FindObjectsFinal(h)
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	if len(objs) == 0 {
		info, err := ctx.GetSessionInfo(h)
		if err != nil {
			return nil, fmt.Errorf("session info: %w", err)
		}
		if info.State != p11.CKS_RO_USER_FUNCTIONS && info.State != p11.CKS_RW_USER_FUNCTIONS {
			return nil, fmt.Errorf("find objects: %w", p11.Error(p11.CKR_USER_NOT_LOGGED_IN))
		}
	}
	return objs, nil
}

// othersNamed looks at the objects named like r when lookup found no
// usable key: other describes the first that r's mechanism cannot use
// ("an AES secret key"), and n counts them all.
func (s *Seal) othersNamed(h p11.SessionHandle, r keyRef) (other string, n int, err error) {
	objs, err := s.find(h, r.nameAttrs(), 8)
	if err != nil {
		return "", 0, err
	}
	for _, obj := range objs {
		attrs, err := s.mod.ctx.GetAttributeValue(h, obj, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, nil),
			p11.NewAttribute(p11.CKA_KEY_TYPE, nil),
		})
		if err != nil {
			// Objects without a key type (certificates, data) land here.
			return "an object that is not a key", len(objs), nil
		}
		class, keyType := attrUint(attrs[0]), attrUint(attrs[1])
		fits := class == p11.CKO_SECRET_KEY && keyType == p11.CKK_AES
		if r.mech.isRSA() {
			fits = (class == p11.CKO_PRIVATE_KEY || class == p11.CKO_PUBLIC_KEY) && keyType == p11.CKK_RSA
		}
		if !fits {
			return "an " + keyTypeNames[keyType] + classNames[class], len(objs), nil
		}
	}
	return "", len(objs), nil
}

// classNames and keyTypeNames describe objects in messages.
var (
	classNames = map[uint]string{
		p11.CKO_SECRET_KEY: "secret key", p11.CKO_PRIVATE_KEY: "private key", p11.CKO_PUBLIC_KEY: "public key",
		p11.CKO_CERTIFICATE: "certificate", p11.CKO_DATA: "data object",
	}
	keyTypeNames = map[uint]string{
		p11.CKK_AES: "AES ", p11.CKK_RSA: "RSA ", p11.CKK_EC: "EC ", p11.CKK_GENERIC_SECRET: "generic ", p11.CKK_DES3: "DES3 ",
	}
)

// attrUint decodes a CK_ULONG attribute value (host byte order; 0 when
// malformed).
func attrUint(a *p11.Attribute) uint {
	switch len(a.Value) {
	case 8:
		return uint(binary.NativeEndian.Uint64(a.Value))
	case 4:
		return uint(binary.NativeEndian.Uint32(a.Value))
	}
	return 0
}

// exposureAttrs asks for CKA_SENSITIVE and CKA_EXTRACTABLE.
func exposureAttrs() []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
	}
}

// checkExposure warns when the key in h can leave the token or be read.
func (s *Seal) checkExposure(h p11.SessionHandle, obj p11.ObjectHandle, r keyRef) {
	attrs, err := s.mod.ctx.GetAttributeValue(h, obj, exposureAttrs())
	if err != nil || len(attrs) != 2 {
		return
	}
	sensitive := len(attrs[0].Value) == 1 && attrs[0].Value[0] != 0
	extractable := len(attrs[1].Value) == 1 && attrs[1].Value[0] != 0
	if extractable {
		s.logger.Warn("hsm key is extractable: it can be exported from the token; recreate it with CKA_EXTRACTABLE=false",
			"key", r.String(), "token", s.token)
	} else if !sensitive {
		s.logger.Warn("hsm key is not marked sensitive (it is not extractable, so it stays in the token)",
			"key", r.String(), "token", s.token)
	}
}

// generate creates the wrapping key in the token: an AES-256 secret key,
// or an RSA-3072 key pair, sensitive and never extractable, labelled and
// identified like r (a random CKA_ID when r has none). It returns r with
// the id it was given.
func (s *Seal) generate(h p11.SessionHandle, r keyRef) (keyRef, error) {
	if r.id == "" {
		id := make([]byte, 16)
		rand.Read(id)
		r.id = string(id)
	}
	ctx := s.mod.ctx
	if !r.mech.isRSA() {
		tmpl := append([]*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_VALUE_LEN, dekSize),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, false),
			p11.NewAttribute(p11.CKA_UNWRAP, false),
		}, r.nameAttrs()...)
		_, err := ctx.GenerateKey(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tmpl)
		if err != nil {
			return r, fmt.Errorf("generate AES key: %w", err)
		}
		return r, nil
	}
	pub := append([]*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_MODULUS_BITS, rsaBits),
		p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
	}, r.nameAttrs()...)
	priv := append([]*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
	}, r.nameAttrs()...)
	_, _, err := ctx.GenerateKeyPair(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}, pub, priv)
	if err != nil {
		return r, fmt.Errorf("generate RSA key pair: %w", err)
	}
	return r, nil
}

// rsaBits is the modulus size of generated RSA key pairs.
const rsaBits = 3072
