package shamir

// Arithmetic in GF(2^8) modulo the AES polynomial x^8 + x^4 + x^3 + x + 1
// (0x11b). Addition and subtraction are XOR.
//
// Every function here runs in constant time: no table is indexed and no
// branch is taken on an operand's value, so timing and cache state reveal
// nothing about the share bytes being processed. (The classic log/exp
// table implementation indexes memory by secret bytes and leaks through
// the cache.)

// mul returns a*b. It is the shift-and-add ("Russian peasant") product
// with both conditional steps replaced by masks: -(bit) is 0x00 or 0xff,
// computed arithmetically from the operand, never branched on.
func mul(a, b byte) byte {
	var r byte
	for i := 7; i >= 0; i-- {
		// r = r*x mod p: reduce by 0x1b when the bit shifted out was set.
		r = r<<1 ^ -(r>>7)&0x1b
		// r = r + a when bit i of b is set.
		r ^= -(b >> uint(i) & 1) & a
	}
	return r
}

// inv returns a^-1 for a != 0 and 0 for a == 0, as a^254 (a^255 = 1 for
// every non-zero a). Square-and-multiply walks the bits of the public
// exponent 254 = 0b11111110, so the sequence of multiplications is the
// same for every a.
func inv(a byte) byte {
	const exp = 254
	r := byte(1)
	for i := 7; i >= 0; i-- {
		r = mul(r, r)
		if exp>>uint(i)&1 == 1 { // depends on the constant exponent only
			r = mul(r, a)
		}
	}
	return r
}
