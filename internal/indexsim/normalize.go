package indexsim

import (
	"slices"
	"strings"
	"unicode"
)

// foldTable maps lowercase accented Latin letters to plain ASCII, which
// covers our names without pulling in a Unicode normalization library.
var foldTable = func() map[rune]string {
	groups := map[string]string{
		"àáâãäåāăą": "a", "çćĉċč": "c", "ďđð": "d", "èéêëēĕėęě": "e", "ĝğġģ": "g",
		"ĥħ": "h", "ìíîïĩīĭįı": "i", "ĵ": "j", "ķ": "k", "ĺļľŀł": "l", "ñńņňŉ": "n",
		"òóôõöøōŏő": "o", "ŕŗř": "r", "śŝşšș": "s", "ţťŧț": "t", "ùúûüũūŭůűų": "u",
		"ŵ": "w", "ýÿŷ": "y", "źżž": "z", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th",
	}
	table := make(map[rune]string)
	for from, to := range groups {
		for _, r := range from {
			table[r] = to
		}
	}
	return table
}()

// normalizeName makes names comparable: lowercase, accents folded (and
// combining marks dropped), apostrophes and periods removed ("O'Brien" →
// "obrien", "J.R." → "jr"), any other punctuation or space turned into a
// single space ("Smith-Jones" → "smith jones").
func normalizeName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	pendingSpace := false
	for _, r := range name {
		r = unicode.ToLower(r)
		switch {
		case unicode.Is(unicode.Mn, r), r == '\'', r == '’', r == 'ʼ', r == '`', r == '.':
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if pendingSpace && b.Len() > 0 {
				b.WriteByte(' ')
			}
			pendingSpace = false
			if folded, ok := foldTable[r]; ok {
				b.WriteString(folded)
			} else {
				b.WriteRune(r)
			}
		default:
			pendingSpace = true
		}
	}
	return b.String()
}

// tokenKey is the order-independent form of a normalized name.
func tokenKey(normalized string) string {
	tokens := strings.Fields(normalized)
	slices.Sort(tokens)
	return strings.Join(tokens, " ")
}
