"""The customer portal: sign-in, submitting and following requests, on a phone first."""
