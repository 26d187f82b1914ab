package report

import "strconv"

// Plural returns "1 finding" or "3 findings": the count and the noun in the
// form that agrees with it. many is the plural form ("findings"), given
// whole so irregular nouns ("1 of them", "2 places") need no rules.
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// pluralThousands is Plural with the count grouped in thousands.
func pluralThousands(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}
