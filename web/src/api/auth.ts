import { http } from './http'
import type { Me, OidcProvider, ProfilePatch, RegisterRequest } from '@/types/models'

export const login = (username: string, password: string) =>
  http.post<Me>('/auth/login', { username, password })
export const logout = () => http.post<void>('/auth/logout')
export const fetchMe = () => http.get<Me>('/auth/me')
export const updateMe = (patch: ProfilePatch) =>
  http.patch<Me>('/auth/me', patch)
export const changePassword = (current: string, next: string) =>
  http.post<void>('/auth/password', { current, new: next })
/** 201 logs the new account in; 403 when the hub's registration is closed or by invitation. */
export const register = (request: RegisterRequest) => http.post<Me>('/auth/register', request)
/** The identity providers people may sign in with (no login needed; empty when none). */
export const listOidcProviders = () => http.get<OidcProvider[]>('/auth/oidc/providers')
/**
 * Where the browser goes to sign in with a provider (the hub redirects it onwards);
 * `returnTo`, a path of the app, is where it comes back to once signed in.
 */
export const oidcStartUrl = (id: string, returnTo?: string) =>
  `/api/v1/auth/oidc/${encodeURIComponent(id)}/start${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`
