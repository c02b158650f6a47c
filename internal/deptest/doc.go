// Package deptest holds the test that enforces the direction of imports
// between Gregor's packages (STYLE.md section 1), so that the layering is
// kept by a failing test rather than by review alone.
package deptest
