// Package layers holds the test that keeps the architecture honest: the
// README's Design table lists every package in a row, and a package may
// import only packages of its own row or of rows below it.
package layers
