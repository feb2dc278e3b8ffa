"""The client app's endpoints: a client company's equipment, contracts, requests and reports."""
