variable "hcloud_token" {
  description = "Hetzner Cloud API token (read and write). Pass it as TF_VAR_hcloud_token, never in a file."
  type        = string
  sensitive   = true
}

variable "name_prefix" {
  description = "Prefix of every resource's name (servers become <prefix>-lb1, ...)."
  type        = string
  default     = "tuitalk"
}

variable "location" {
  description = "Hetzner location of the servers and the floating IP (nbg1, fsn1, hel1, ...)."
  type        = string
  default     = "nbg1"
}

variable "network_zone" {
  description = "Network zone of the private subnet; must contain the location."
  type        = string
  default     = "eu-central"
}

variable "image" {
  description = "Server image: Debian 12, which the Ansible roles are written for."
  type        = string
  default     = "debian-12"
}

variable "server_types" {
  description = "Server type per group."
  type        = map(string)
  default = {
    loadbalancer = "cx22"
    backend      = "cx32"
    redis        = "cx22"
    postgresql   = "cx42"
  }
}

variable "ssh_public_key_file" {
  description = "Public key installed for root on every server (Ansible logs in with it)."
  type        = string
  default     = "~/.ssh/id_ed25519.pub"
}

variable "admin_cidrs" {
  description = "Networks allowed to reach the servers' ssh port (Ansible's machine)."
  type        = list(string)
}

variable "network_cidr" {
  description = "The private network."
  type        = string
  default     = "10.0.0.0/16"
}

variable "subnet_cidr" {
  description = "The subnet the servers are in; the host table's addresses are in it."
  type        = string
  default     = "10.0.1.0/24"
}

variable "inventory_path" {
  description = "Where to write the Ansible inventory (same shape as ansible/inventories/production/hosts.yml)."
  type        = string
  default     = "../../ansible/inventories/hcloud/hosts.yml"
}
