"""Local stand-ins for the paid services we cannot reach from here (an SMTP inbox, Twilio,
Stripe), each speaking its real wire format so our code talks to it through the vendor's SDK."""
