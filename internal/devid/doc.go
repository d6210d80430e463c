// Package devid is a Shoebox unit's identity as other devices check it:
// the SHA-256 of its certificate's SubjectPublicKeyInfo. Nothing else in
// the certificate counts (names, dates, issuer), so a certificate can be
// made again from the same key without changing the identity, and there
// is no certificate authority to trust or to lose.
//
// # Pins for phones
//
// Pin is the box's HTTPS certificate as a phone checks it after pairing:
// "sha256/" and the standard base64 of the SPKI hash, the format of HPKP
// and OkHttp's CertificatePinner. The gateway puts it in pairing links.
//
// # Device IDs for paired units
//
// ID is the same hash of a unit's cluster certificate, which units pin
// on their mutual-TLS link (package cluster). People read an ID off one
// unit and type it on the other, so its text form is made for that, as
// syncthing's device IDs are: the 32 bytes in base32 (A–Z, 2–7; 52
// characters), cut into four runs of 13 characters, each followed by a
// Luhn mod 32 check character, and shown as eight dash-separated groups
// of seven:
//
//	UBIIG7M-FA4CYFU-THXHFFQ-TCEEPTT-BRFS4IE-WNYSSEB-Z63ZDTT-YXSGSQH
//
// Parse accepts any letter case, with or without the dashes (and spaces
// where people paste them), and refuses a mistyped ID with an error that
// names the groups holding the mistake: a check character catches every
// single wrong character and most swaps of two neighbours.
//
// # Identity files
//
// LoadOrCreate keeps a unit's Ed25519 key and its self-signed certificate
// in a state directory, key.pem (PKCS #8) and cert.pem, both 0600 and
// written atomically (package atomicfile). A missing cert.pem is made
// again from key.pem, with the same device ID; a damaged file is an
// error that names it and says what to do, and nothing is overwritten.
// The key also signs what the unit vouches for (the offsite unit's
// receipts), so it never leaves the unit.
package devid
