package shamir

import "testing"

// slowMul is the textbook branchy product, the reference mul is checked
// against.
func slowMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 == 1 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

func TestMulMatchesReference(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			got, want := mul(byte(a), byte(b)), slowMul(byte(a), byte(b))
			if got != want {
				t.Fatalf("mul(%#x, %#x) = %#x, want %#x", a, b, got, want)
			}
		}
	}
}

func TestMulKnownValues(t *testing.T) {
	tests := []struct{ a, b, want byte }{
		{0x53, 0xca, 0x01}, // FIPS-197's inverse pair
		{0x57, 0x83, 0xc1}, // FIPS-197 section 4.2
		{0x57, 0x13, 0xfe},
		{0x00, 0xff, 0x00},
		{0x01, 0xab, 0xab},
	}
	for _, tt := range tests {
		if got := mul(tt.a, tt.b); got != tt.want {
			t.Errorf("mul(%#x, %#x) = %#x, want %#x", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestMulFieldLaws(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			x, y := byte(a), byte(b)
			if mul(x, y) != mul(y, x) {
				t.Fatalf("mul not commutative at %#x, %#x", x, y)
			}
			// Distributivity and associativity against a few third operands.
			for _, z := range []byte{0x00, 0x01, 0x02, 0x1b, 0x80, 0xa5, 0xff} {
				if mul(x, y^z) != mul(x, y)^mul(x, z) {
					t.Fatalf("mul not distributive at %#x, %#x, %#x", x, y, z)
				}
				if mul(mul(x, y), z) != mul(x, mul(y, z)) {
					t.Fatalf("mul not associative at %#x, %#x, %#x", x, y, z)
				}
			}
		}
	}
}

func TestInv(t *testing.T) {
	if got := inv(0); got != 0 {
		t.Fatalf("inv(0) = %#x, want 0", got)
	}
	for a := 1; a < 256; a++ {
		i := inv(byte(a))
		if mul(byte(a), i) != 1 {
			t.Fatalf("%#x * inv(%#x) = %#x, want 1", a, a, mul(byte(a), i))
		}
		// The inverse is unique: compare with a brute-force search.
		for b := 1; b < 256; b++ {
			if slowMul(byte(a), byte(b)) == 1 && byte(b) != i {
				t.Fatalf("inv(%#x) = %#x, brute force finds %#x", a, i, b)
			}
		}
	}
}
