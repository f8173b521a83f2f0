import { http } from './http'
import type { Me, ProfilePatch } from '@/types/models'

export const login = (username: string, password: string) =>
  http.post<Me>('/auth/login', { username, password })
export const logout = () => http.post<void>('/auth/logout')
export const fetchMe = () => http.get<Me>('/auth/me')
export const updateMe = (patch: ProfilePatch) =>
  http.patch<Me>('/auth/me', patch)
export const changePassword = (current: string, next: string) =>
  http.post<void>('/auth/password', { current, new: next })
