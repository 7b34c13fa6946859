"""The end-to-end demo (`lorafleet demo`) and the local three-service cluster it runs on."""
