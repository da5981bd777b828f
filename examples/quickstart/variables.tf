variable "atlas_org_id" {
  description = "The Atlas organization (24 hexadecimal digits) the keys are created in."
  type        = string
}

variable "atlas_base_url" {
  description = "Atlas Administration API base URL; null: MONGODB_ATLAS_BASE_URL or https://cloud.mongodb.com."
  type        = string
  default     = null
}

variable "atlas_public_key" {
  description = "Public half of the Atlas API key Terraform authenticates with; null: MONGODB_ATLAS_PUBLIC_API_KEY."
  type        = string
  default     = null
}

variable "atlas_private_key" {
  description = "Private half of that key; null: MONGODB_ATLAS_PRIVATE_API_KEY."
  type        = string
  default     = null
  sensitive   = true
}
